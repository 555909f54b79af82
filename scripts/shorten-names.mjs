// Shortens the names that wasm-bindgen gives the wasm module's imports and exports
// (`__wbg_getItem_49556a3e59cfb688`, closure shims named after their full Rust types) in one
// output directory of scripts/build-pkg.sh: the .wasm and every .js and .d.ts beside it.
// Each name is in the wasm once and in the glue once or more; their hashes do not compress.
// Imports from the glue module and exports of 12 characters or more get `$<n>`; `memory` and
// the snippets' own names are kept.
//
//   node scripts/shorten-names.mjs pkg/web
//
// The wasm is rewritten section by section (only the import and export sections change). The
// script checks its work: every renamed import must be in the JS, no old name may remain.
import { readdirSync, readFileSync, writeFileSync } from "node:fs";

const dir = process.argv[2];
const files = readdirSync(dir);
const wasmFile = files.find((f) => f.endsWith("_bg.wasm"));
const textFiles = files.filter((f) => f.endsWith(".js") || f.endsWith(".d.ts"));
if (!wasmFile) throw new Error(`no *_bg.wasm in ${dir}`);
const GLUE_MODULE = `./${wasmFile.replace(/\.wasm$/, ".js")}`;

const uleb = (n) => {
  const out = [];
  do {
    let byte = n & 0x7f;
    n >>>= 7;
    if (n) byte |= 0x80;
    out.push(byte);
  } while (n);
  return Buffer.from(out);
};
const name = (s) => {
  const bytes = Buffer.from(s, "utf8");
  return Buffer.concat([uleb(bytes.length), bytes]);
};

class Reader {
  constructor(buf, pos = 0) {
    this.buf = buf;
    this.pos = pos;
  }
  u32() {
    let result = 0;
    let shift = 0;
    let byte;
    do {
      byte = this.buf[this.pos++];
      result |= (byte & 0x7f) << shift;
      shift += 7;
    } while (byte & 0x80);
    return result >>> 0;
  }
  byte() {
    return this.buf[this.pos++];
  }
  str() {
    const len = this.u32();
    const s = this.buf.subarray(this.pos, this.pos + len).toString("utf8");
    this.pos += len;
    return s;
  }
  limits() {
    const flags = this.byte();
    this.u32();
    if (flags & 1) this.u32();
  }
}

const renames = new Map();
const imported = new Set();
const rename = (old) => {
  if (!renames.has(old)) renames.set(old, `$${renames.size.toString(36)}`);
  return renames.get(old);
};

// An import's description after its names: function, table, memory, global or tag.
const skipImportDesc = (r) => {
  const kind = r.byte();
  if (kind === 0) r.u32();
  else if (kind === 1) {
    r.byte();
    r.limits();
  } else if (kind === 2) r.limits();
  else if (kind === 3) r.pos += 2;
  else if (kind === 4) {
    r.byte();
    r.u32();
  } else throw new Error(`unknown import kind ${kind}`);
};

const wasm = readFileSync(`${dir}/${wasmFile}`);
if (wasm.readUInt32LE(0) !== 0x6d736100) throw new Error(`${wasmFile} is not a wasm module`);
const parts = [wasm.subarray(0, 8)];
const top = new Reader(wasm, 8);
while (top.pos < wasm.length) {
  const id = top.byte();
  const size = top.u32();
  let body = wasm.subarray(top.pos, top.pos + size);
  top.pos += size;
  if (id === 2 || id === 7) {
    const r = new Reader(body);
    const count = r.u32();
    const entries = [uleb(count)];
    for (let i = 0; i < count; i++) {
      if (id === 2) {
        const module = r.str();
        const field = r.str();
        const start = r.pos;
        skipImportDesc(r);
        const renamed = module === GLUE_MODULE ? rename(field) : field;
        if (renamed !== field) imported.add(renamed);
        entries.push(name(module), name(renamed), body.subarray(start, r.pos));
      } else {
        const field = r.str();
        const start = r.pos;
        r.byte();
        r.u32();
        const renamed = field.length >= 12 ? rename(field) : field;
        entries.push(name(renamed), body.subarray(start, r.pos));
      }
    }
    body = Buffer.concat(entries);
  }
  parts.push(Buffer.from([id]), uleb(body.length), body);
}
writeFileSync(`${dir}/${wasmFile}`, Buffer.concat(parts));

// The same names in the glue and the types, as whole identifiers only.
const escape = (s) => s.replace(/[$]/g, "\\$");
const js = [];
for (const file of textFiles) {
  let text = readFileSync(`${dir}/${file}`, "utf8");
  for (const [old, short] of renames) {
    text = text.replace(new RegExp(`(?<![\\w$])${escape(old)}(?![\\w$])`, "g"), () => short);
  }
  writeFileSync(`${dir}/${file}`, text);
  if (file.endsWith(".js")) js.push(text);
}
const allJs = js.join("\n");
for (const [old, short] of renames) {
  if (allJs.includes(old)) throw new Error(`${old} is still in the JS of ${dir}`);
  if (imported.has(short) && !new RegExp(`(?<![\\w$])${escape(short)}(?![\\w$])`).test(allJs)) {
    throw new Error(`import ${short} (was ${old}) is not provided by the JS of ${dir}`);
  }
}
console.log(`shorten-names: ${renames.size} names in ${dir}`);
