import { createReadStream, createWriteStream } from 'node:fs';
import { access, mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { createBrotliDecompress } from 'node:zlib';
import { type Browser, chromium, type LaunchOptions } from 'playwright-core';
import { x as extractTar } from 'tar';
import * as z from 'zod';

/** Names a Chromium (or Chrome) executable to drive instead of the packaged one, e.g. on macOS or Linux arm64. */
export const CHROMIUM_VARIABLE = 'SLUICE_CHROMIUM';

/**
 * Flags for a headless browser on a machine without a display or a network: without the background-networking
 * flags Chromium keeps trying to reach Google's hosts.
 */
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

const PACKAGE = '@sparticuz/chromium';
const packageManifest = z.object({ version: z.string().min(1) });

/** A browser the tests can drive: its executable and the environment it needs. */
interface ChromiumBuild {
  readonly executablePath: string;
  readonly env: Record<string, string>;
  /** Where it comes from, for the error message when it cannot start. */
  readonly origin: string;
}

/**
 * Starts headless Chromium for the browser tests: the headless shell that `@sparticuz/chromium` ships inside its
 * npm tarball (Linux x64), so `npm install` brings it with no download of its own and no system package, with
 * the NSS and Expat libraries the package ships for it (a bare Debian has neither) and its fonts. Unpacked once
 * per version into node_modules/.cache. `SLUICE_CHROMIUM=/path/to/chromium` drives another browser instead.
 * Throws, naming the browser and why, when none can start: a browser test never passes without a browser.
 *
 * @example
 * ```ts
 * const browser = await launchChromium();
 * const page = await browser.newPage();
 * ```
 */
export async function launchChromium(options: Omit<LaunchOptions, 'executablePath' | 'env'> = {}): Promise<Browser> {
  const build = await chromiumBuild();
  try {
    return await chromium.launch({
      args: CHROMIUM_ARGS,
      ...options,
      executablePath: build.executablePath,
      env: { ...process.env, ...build.env },
    });
  } catch (error) {
    throw new Error(
      `Chromium did not start (${build.origin}, ${build.executablePath}): ${error instanceof Error ? error.message : String(error)}`,
      { cause: error },
    );
  }
}

async function chromiumBuild(): Promise<ChromiumBuild> {
  const chosen = process.env[CHROMIUM_VARIABLE];
  if (chosen !== undefined && chosen !== '') {
    await access(chosen).catch((error: unknown) => {
      throw new Error(`${CHROMIUM_VARIABLE}=${chosen}: no such browser executable`, { cause: error });
    });
    return { executablePath: chosen, env: {}, origin: CHROMIUM_VARIABLE };
  }
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    throw new Error(
      `${PACKAGE} ships Chromium for Linux x64 only, not ${process.platform} ${process.arch}: ` +
        `set ${CHROMIUM_VARIABLE} to a Chromium or Chrome executable to run the browser tests`,
    );
  }
  const dir = await unpackedChromium();
  return {
    executablePath: join(dir, 'chromium'),
    env: {
      LD_LIBRARY_PATH: [join(dir, 'lib'), process.env.LD_LIBRARY_PATH].filter(Boolean).join(':'),
      FONTCONFIG_PATH: join(dir, 'fonts'),
    },
    origin: PACKAGE,
  };
}

/**
 * The package's own executablePath() is not used: it unpacks into the shared os.tmpdir() (/tmp/chromium), takes
 * whatever file is already there whatever its version (a stale one, or one a concurrent run is still writing),
 * and unpacks the libraries only on AWS Lambda. This unpacks into a directory per version, written aside and
 * renamed into place, so a reader sees a whole build or none.
 */
async function unpackedChromium(): Promise<string> {
  const entry = fileURLToPath(import.meta.resolve(PACKAGE));
  const root = join(dirname(entry), '..');
  const { version } = packageManifest.parse(JSON.parse(await readFile(join(root, 'package.json'), 'utf8')));
  const cache = fileURLToPath(new URL('../../node_modules/.cache/sluice-chromium/', import.meta.url));
  const dir = join(cache, version);
  if (await exists(join(dir, 'chromium'))) return dir;

  await mkdir(cache, { recursive: true });
  const staging = await mkdtemp(join(cache, `${version}-`));
  try {
    const bin = join(root, 'bin');
    await pipeline(
      createReadStream(join(bin, 'chromium.br')),
      createBrotliDecompress(),
      createWriteStream(join(staging, 'chromium'), { mode: 0o755 }),
    );
    // al2023.tar.br holds lib/ (NSS, NSPR, Expat); fonts.tar.br a fonts.conf for /tmp/fonts and the fonts.
    await extractTar({ file: join(bin, 'al2023.tar.br'), cwd: staging, brotli: true });
    const fonts = join(staging, 'fonts');
    await mkdir(fonts);
    await extractTar({ file: join(bin, 'fonts.tar.br'), cwd: fonts, brotli: true });
    await writeFile(
      join(fonts, 'fonts.conf'),
      [
        '<?xml version="1.0"?>',
        '<!DOCTYPE fontconfig SYSTEM "fonts.dtd">',
        '<fontconfig>',
        `  <dir>${join(dir, 'fonts', 'fonts')}</dir>`,
        '  <include ignore_missing="yes">/etc/fonts/fonts.conf</include>',
        `  <cachedir>${join(dir, 'fonts', 'cache')}</cachedir>`,
        '</fontconfig>',
        '',
      ].join('\n'),
    );
    await rename(staging, dir);
  } catch (error) {
    await rm(staging, { recursive: true, force: true });
    // Another run renamed its copy into place first: use that one.
    if (await exists(join(dir, 'chromium'))) return dir;
    throw new Error(`could not unpack ${PACKAGE} ${version} into ${dir}: ${String(error)}`, { cause: error });
  }
  return dir;
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}
