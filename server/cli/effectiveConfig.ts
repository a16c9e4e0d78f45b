/**
 * Which configuration `grid` runs with, decided in one place for every command:
 * 1. `--config FILE` (or `GRID_CONFIG`): that file, and it must exist.
 * 2. Otherwise `config.toml` in the working directory, when it exists.
 * 3. Otherwise the embedded development default (see `server/dev/devEnvironment.ts`).
 * `GRID_*` environment overrides apply in every case.
 */
import { access } from 'node:fs/promises';
import { nativeAddonProblem } from '../assembly.ts';
import { ConfigError, type GridConfig, loadConfig, parseConfigText } from '../config/index.ts';
import { type DevEnvironment, prepareDevEnvironment } from '../dev/devEnvironment.ts';

export const defaultConfigPath = 'config.toml';

export type EffectiveConfig = {
  config: GridConfig;
  /** The file path, or a description of the embedded default. */
  source: string;
  /** Set when the embedded development default is in use. */
  dev?: DevEnvironment;
};

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

export async function loadEffectiveConfig(options: {
  configFlag?: string | undefined;
  env: Record<string, string | undefined>;
  devDirectory?: string;
  /** Check that certificate and key files exist and parse (default true). */
  checkFiles?: boolean;
}): Promise<EffectiveConfig> {
  const checkFiles = options.checkFiles ?? true;
  const explicit = options.configFlag ?? options.env.GRID_CONFIG;
  const path = explicit ?? defaultConfigPath;
  if (await exists(path)) {
    return { config: await loadConfig({ path, env: options.env, checkFiles }), source: path };
  }
  if (explicit !== undefined) {
    throw new ConfigError([
      {
        source: path,
        path: '',
        message: 'the config file does not exist',
        hint:
          options.configFlag !== undefined
            ? 'check the --config path'
            : 'GRID_CONFIG names this file; unset it or point it at a config.toml',
      },
    ]);
  }
  const dev = await prepareDevEnvironment(options.devDirectory, new Date(), nativeAddonProblem);
  const config = await parseConfigText(dev.configText, {
    source: dev.configSource,
    env: options.env,
    checkFiles: true,
  });
  return { config, source: dev.configSource, dev };
}
