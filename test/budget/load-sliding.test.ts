/** The download budget under load (see load.ts), against a fake Zoho counting downloads per sliding. */
import { loadScenarios } from './load.js';

loadScenarios('sliding');
