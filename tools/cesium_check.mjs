// Loads a 3D Tiles tileset in CesiumJS in headless Debian Chromium and takes a screenshot.
// Usage: node tools/cesium_check.mjs URL SCREENSHOT; prints JSON {loaded, features, errors,
// failed}. URL serves tools/cesium/index.html with Cesium's build beside it.
// Chromium comes from Debian (/usr/bin/chromium); playwright-core never downloads a browser.
import { createRequire } from "node:module";

const require = createRequire(new URL("./node/", import.meta.url));
const { chromium } = require("playwright-core");

const [url, screenshot] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: [
    "--no-sandbox", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--use-angle=swiftshader",
    "--enable-unsafe-swiftshader", "--ignore-gpu-blocklist",
  ],
});
const errors = [];
const failed = [];
try {
  const page = await browser.newPage({ viewport: { width: 1000, height: 700 } });
  page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });
  page.on("pageerror", (e) => errors.push(String(e)));
  page.on("requestfailed", (r) => failed.push(r.url()));
  await page.goto(url);
  await page.waitForFunction(() => window.twin && (window.twin.loaded || window.twin.error),
                             null, { timeout: 60000 });
  await page.waitForTimeout(500);
  const state = await page.evaluate(() => window.twin);
  if (state.error) errors.push(state.error);
  await page.screenshot({ path: screenshot });
  console.log(JSON.stringify({ loaded: state.loaded, features: state.features, errors, failed }));
} finally {
  await browser.close();
}
