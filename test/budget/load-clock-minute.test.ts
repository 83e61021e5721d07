/** The download budget under load (see load.ts), against a fake Zoho counting downloads per clock-minute. */
import { loadScenarios } from './load.js';

loadScenarios('clock-minute');
