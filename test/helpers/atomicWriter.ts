/**
 * Writes files the way the kubelet updates a mounted Secret or ConfigMap (pkg/volume/util/
 * atomic_writer.go): the content goes into a new timestamped directory, the `..data` symlink
 * is swapped to it by a rename (atomic), and each visible name is a symlink `name ->
 * ..data/name` that never changes. A reader watching `name`'s inode sees nothing; a reader of
 * the directory sees the rename. Used by the certificate reload tests and the e2e pod runner.
 */
import { mkdir, readlink, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

let sequence = 0;

export async function writeAtomically(
  dir: string,
  files: Record<string, string>,
  mode = 0o600,
): Promise<void> {
  await mkdir(dir, { recursive: true });
  const stamp = `..${new Date().toISOString().replace(/[-:.]/g, '_')}.${process.pid}_${sequence++}`;
  await mkdir(join(dir, stamp));
  for (const [name, content] of Object.entries(files))
    await writeFile(join(dir, stamp, name), content, { mode });
  const previous = await readlink(join(dir, '..data')).catch(() => undefined);
  await rm(join(dir, '..data_tmp'), { force: true });
  await symlink(stamp, join(dir, '..data_tmp'));
  await rename(join(dir, '..data_tmp'), join(dir, '..data'));
  for (const name of Object.keys(files)) {
    await symlink(join('..data', name), join(dir, name)).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'EEXIST') throw error;
    });
  }
  if (previous !== undefined && previous !== stamp)
    await rm(join(dir, previous), { recursive: true, force: true });
}
