/** The download fault matrix (see fault-matrix.ts) against a fake Zoho counting downloads per clock-minute. */
import { faultMatrix } from './fault-matrix.js';

faultMatrix('clock-minute');
