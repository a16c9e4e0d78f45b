/**
 * Imported first by server/main.ts for its side effect: `grid` (the server command) re-executes
 * itself with its heap flags before the modules after this one evaluate (ES modules evaluate in
 * import order), so the restart costs parsing the module graph, not running its initialisation
 * (measured: the dev default's banner came 0.7–1.1 s later when the re-exec ran after it).
 */
import { isServerCommand, reexecWithHeapFlags } from './heapFlags.ts';

if (isServerCommand(process.argv.slice(2))) reexecWithHeapFlags();
