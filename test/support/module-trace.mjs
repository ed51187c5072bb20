// Preloaded with `node --import`: registers a resolve hook that appends every module URL the process loads to
// the file named by SLUICE_MODULE_TRACE, so a test can see what a command pulls in.
import { register } from 'node:module';

register(new URL('./module-trace-hooks.mjs', import.meta.url));
