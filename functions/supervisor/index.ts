import { supervisorFromEnvironment } from './environment.ts';
import { createSupervisorHandler } from './handler.ts';

/** Lambda entry point of the supervisor: config and clients are built once per instance, at init. */
export const handler = createSupervisorHandler(supervisorFromEnvironment(process.env));
