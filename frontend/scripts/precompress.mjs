// Writes NAME.gz and NAME.br next to each compressible file of a build (default: dist/), so the
// relay serves them precompressed (it loads them at start-up, trio_relay/static.py) and never
// compresses per request. Gzip at level 9 and brotli at quality 11: slow once, here, and the
// smallest files for every visitor. A file under MIN_BYTES is left alone (a packet either way),
// and so is a variant that would not be smaller than its file (the relay would not use it).
// Node's own zlib only: no dependency. Run after `vite build`: `node scripts/precompress.mjs dist`.

import { readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { extname, join, relative } from "node:path";
import { brotliCompressSync, constants, gzipSync } from "node:zlib";

const MIN_BYTES = 1024;
// Text and other formats that are not compressed already (images, fonts in woff2, media are).
const COMPRESSIBLE = new Set([
  ".html", ".htm", ".js", ".mjs", ".cjs", ".css", ".svg", ".json", ".webmanifest", ".map",
  ".wasm", ".txt", ".xml", ".ico", ".ttf", ".otf",
]);

function* files(directory) {
  for (const entry of readdirSync(directory, { withFileTypes: true })) {
    const path = join(directory, entry.name);
    if (entry.isDirectory()) yield* files(path);
    else if (entry.isFile()) yield path;
  }
}

const variants = {
  gz: (body) => gzipSync(body, { level: 9 }),
  br: (body) =>
    brotliCompressSync(body, {
      params: {
        [constants.BROTLI_PARAM_QUALITY]: constants.BROTLI_MAX_QUALITY,
        [constants.BROTLI_PARAM_SIZE_HINT]: body.length,
      },
    }),
};

const root = process.argv[2] ?? "dist";
const totals = { files: 0, identity: 0, gz: 0, br: 0 };
for (const path of [...files(root)]) {
  if (!COMPRESSIBLE.has(extname(path).toLowerCase())) continue;
  const body = readFileSync(path);
  let written = false;
  for (const [suffix, compress] of Object.entries(variants)) {
    const variant = `${path}.${suffix}`;
    const compressed = body.length >= MIN_BYTES ? compress(body) : null;
    if (compressed !== null && compressed.length < body.length) {
      writeFileSync(variant, compressed);
      totals[suffix] += compressed.length;
      written = true;
    } else {
      rmSync(variant, { force: true }); // a variant of an earlier build must not outlive it
    }
  }
  if (written) {
    totals.files += 1;
    totals.identity += body.length;
  }
}
console.log(
  `precompressed ${totals.files} files in ${relative(process.cwd(), root) || "."}: ` +
    `${totals.identity} bytes -> gzip ${totals.gz}, brotli ${totals.br}`,
);
