/**
 * Entry of the fake Zoho child process:
 *
 *   node --import tsx local/fake-zoho/child.ts '{"port": 4570, "frozenClockAt": 1800000000000}'
 *
 * Options: a JSON object as the first argument, or in FAKE_ZOHO_OPTIONS. Reports
 * `{"ready": true, "url", "port", "pid"}` over IPC (when forked) and on stdout; stops on SIGTERM, SIGINT
 * or IPC disconnect. Drive it through the admin API (admin-client.ts). Parent side: startFakeZohoChild.
 */
import { childOptionsFromProcess, serveFakeZohoChild } from './child-runner.js';

await serveFakeZohoChild(childOptionsFromProcess());
