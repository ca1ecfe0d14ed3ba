// Validate glTF/GLB files with the Khronos glTF validator; print one JSON report per line.
// Usage: node tools/gltf_validate.mjs FILE...   (exit code 1 when any file has errors)
import { createRequire } from "node:module";
import { readFile } from "node:fs/promises";
import path from "node:path";

const require = createRequire(new URL("./node/", import.meta.url));
const validator = require("gltf-validator");

let failed = false;
for (const file of process.argv.slice(2)) {
  const data = new Uint8Array(await readFile(file));
  const report = await validator.validateBytes(data, {
    uri: path.basename(file),
    maxIssues: 100,
    externalResourceFunction: (uri) =>
      readFile(path.join(path.dirname(file), decodeURIComponent(uri))).then((b) => new Uint8Array(b)),
  });
  const { numErrors, numWarnings, numInfos, messages } = report.issues;
  failed ||= numErrors > 0;
  console.log(JSON.stringify({ file, numErrors, numWarnings, numInfos, messages, info: report.info }));
}
process.exit(failed ? 1 : 0);
