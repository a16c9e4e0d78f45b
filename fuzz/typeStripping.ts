/**
 * Registers loader hooks that hand Jazzer.js plain JavaScript: Jazzer's ESM loader instruments
 * only `format: "module"` sources, and Node reports our `.ts` files as `module-typescript`.
 * Registered before Jazzer's own hooks, so Jazzer's `load` runs first and receives the
 * stripped source from ours (hooks chain last-registered first).
 */
import { register } from 'node:module';

register(new URL('./typeStrippingHooks.ts', import.meta.url));
