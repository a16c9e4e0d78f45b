/**
 * Makes Jazzer.js's native fuzzer (libFuzzer in a Node addon) load on glibc < 2.38.
 *
 * @jazzer.js/fuzzer 4.0.0 ships its Linux x64 addon prebuilt inside the npm package (nothing
 * is downloaded), but built against glibc 2.38 / GCC 13. On Debian 12 (glibc 2.36, GCC 12)
 * `dlopen` fails: `GLIBC_2.38 not found`. Older releases fetch their binary from GitHub at
 * install time or build libFuzzer from LLVM sources, neither reachable from our machines. The
 * addon needs exactly three newer symbols:
 *
 * - `__isoc23_strtol` / `__isoc23_strtoul` (GLIBC_2.38): the C23 variants GCC 13 headers
 *   select; they differ from `strtol` / `strtoul` (GLIBC_2.2.5) only in also accepting a `0b`
 *   prefix, which libFuzzer's flag parsing never needs. We point each symbol's name at the
 *   `strtol` / `strtoul` suffix of its own string and its version at GLIBC_2.2.5;
 * - `std::ios_base_library_init()` (GLIBCXX_3.4.32): a link-time anchor GCC 13 emits so that
 *   libstdc++'s iostream objects get initialised; never called. We make it a weak reference.
 *
 * and the two version requirements are marked weak (VER_FLG_WEAK), so the loader does not
 * insist on them. The patch rewrites a few bytes of the ELF in place (a copy of the original
 * is kept beside it), is applied only when the addon fails to load for this reason, and is
 * idempotent. ELF layout: the System V gABI (`Elf64_Sym`, `.gnu.version`, `.gnu.version_r`).
 */
import { copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const SHT_DYNSYM = 11;
const SHT_GNU_VERSYM = 0x6fffffff;
const SHT_GNU_VERNEED = 0x6ffffffe;
const VER_FLG_WEAK = 0x2;
const STB_WEAK_STT_FUNC = 0x22;

/** The path of the addon Jazzer loads (`fuzzer-<platform>-<arch>.node`). */
export function jazzerAddonPath(): string {
  const require = createRequire(import.meta.url);
  const fuzzerDir = dirname(require.resolve('@jazzer.js/fuzzer/package.json'));
  return join(fuzzerDir, 'prebuilds', `fuzzer-${process.platform}-${process.arch}.node`);
}

/** Why the addon does not load, or undefined when it does. */
export function addonLoadError(path: string): string | undefined {
  try {
    process.dlopen({ exports: {} } as NodeJS.Module, path);
    return undefined;
  } catch (error) {
    return (error as Error).message;
  }
}

type Section = { type: number; offset: number; size: number; link: number };

function sections(elf: Buffer): Section[] {
  if (elf.readUInt32BE(0) !== 0x7f454c46 || elf[4] !== 2 || elf[5] !== 1) {
    throw new Error('not a little-endian 64-bit ELF file');
  }
  const shoff = Number(elf.readBigUInt64LE(0x28));
  const shentsize = elf.readUInt16LE(0x3a);
  const shnum = elf.readUInt16LE(0x3c);
  const result: Section[] = [];
  for (let i = 0; i < shnum; i++) {
    const at = shoff + i * shentsize;
    result.push({
      type: elf.readUInt32LE(at + 4),
      offset: Number(elf.readBigUInt64LE(at + 0x18)),
      size: Number(elf.readBigUInt64LE(at + 0x20)),
      link: elf.readUInt32LE(at + 0x28),
    });
  }
  return result;
}

function cString(elf: Buffer, offset: number): string {
  return elf.toString('latin1', offset, elf.indexOf(0, offset));
}

/** Patches `elf` in place as described above; returns how many symbols it changed. */
export function patchForOldGlibc(elf: Buffer): number {
  const all = sections(elf);
  const dynsym = all.find((s) => s.type === SHT_DYNSYM);
  const versym = all.find((s) => s.type === SHT_GNU_VERSYM);
  const verneed = all.find((s) => s.type === SHT_GNU_VERNEED);
  if (dynsym === undefined || versym === undefined || verneed === undefined) {
    throw new Error('the addon has no versioned dynamic symbols');
  }
  const dynstr = all[dynsym.link]!.offset;
  // .gnu.version_r: Elf64_Verneed { vn_version u16, vn_cnt u16, vn_file u32, vn_aux u32, vn_next u32 }
  // followed by Elf64_Vernaux { vna_hash u32, vna_flags u16, vna_other u16, vna_name u32, vna_next u32 }.
  let libcBaseVersion = -1;
  for (let at = verneed.offset; ; ) {
    const count = elf.readUInt16LE(at + 2);
    const file = cString(elf, dynstr + elf.readUInt32LE(at + 4));
    let aux = at + elf.readUInt32LE(at + 8);
    for (let i = 0; i < count; i++) {
      const name = cString(elf, dynstr + elf.readUInt32LE(aux + 8));
      if (name === 'GLIBC_2.38' || name === 'GLIBCXX_3.4.32') {
        elf.writeUInt16LE(elf.readUInt16LE(aux + 4) | VER_FLG_WEAK, aux + 4);
      }
      if (file === 'libc.so.6' && name === 'GLIBC_2.2.5') libcBaseVersion = elf.readUInt16LE(aux + 6);
      aux += elf.readUInt32LE(aux + 12);
    }
    const next = elf.readUInt32LE(at + 12);
    if (next === 0) break;
    at += next;
  }
  if (libcBaseVersion < 0) throw new Error('the addon does not reference libc GLIBC_2.2.5');
  // .dynsym: Elf64_Sym { st_name u32, st_info u8, st_other u8, st_shndx u16, st_value u64, st_size u64 }.
  let changed = 0;
  for (let i = 0; i < dynsym.size / 24; i++) {
    const at = dynsym.offset + i * 24;
    const nameOffset = elf.readUInt32LE(at);
    const name = cString(elf, dynstr + nameOffset);
    if (name === '__isoc23_strtol' || name === '__isoc23_strtoul') {
      elf.writeUInt32LE(nameOffset + '__isoc23_'.length, at);
      elf.writeUInt16LE(libcBaseVersion, versym.offset + 2 * i);
      changed++;
    } else if (name === '_ZSt21ios_base_library_initv') {
      elf[at + 4] = STB_WEAK_STT_FUNC;
      changed++;
    }
  }
  return changed;
}

/**
 * Makes sure the addon loads. Returns what was done, for the fuzz run's log; throws with the
 * loader's message when it still cannot load.
 */
export function ensureJazzerAddon(): string {
  const path = jazzerAddonPath();
  const error = addonLoadError(path);
  if (error === undefined) return 'the Jazzer.js addon loads as shipped';
  if (!/GLIBC_2\.38|GLIBCXX_3\.4\.32/.test(error))
    throw new Error(`the Jazzer.js addon does not load: ${error}`);
  const original = `${path}.orig`;
  if (!existsSync(original)) copyFileSync(path, original);
  const elf = readFileSync(original);
  const changed = patchForOldGlibc(elf);
  writeFileSync(path, elf);
  const after = addonLoadError(path);
  if (after !== undefined)
    throw new Error(`the Jazzer.js addon does not load even after the patch: ${after}`);
  return `the Jazzer.js addon was patched for glibc < 2.38 (${changed} symbols; original kept as ${original})`;
}
