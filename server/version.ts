import { readFile } from 'node:fs/promises';

/** The package version, read from package.json next to the sources (one source of truth). */
export async function readPackageVersion(): Promise<string> {
  const text = await readFile(new URL('../package.json', import.meta.url), 'utf8');
  return (JSON.parse(text) as { version: string }).version;
}
