/** The download fault matrix (see fault-matrix.ts) against a fake Zoho counting downloads per sliding. */
import { faultMatrix } from './fault-matrix.js';

faultMatrix('sliding');
