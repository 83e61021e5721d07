/** What the API's routes are given (its own module, so route modules and the handler do not import each other). */
import type { Logger } from '@aws-lambda-powertools/logger';
import type { ExportDeps } from '../exports/deps.js';

export type ApiDeps = ExportDeps & { logger: Logger };
