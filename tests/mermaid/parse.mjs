import { JSDOM } from "jsdom";
const dom = new JSDOM("<!doctype html><html><body></body></html>");
globalThis.window = dom.window; globalThis.document = dom.window.document;
globalThis.DOMPurify = undefined;
const { default: mermaid } = await import("mermaid");
mermaid.initialize({ startOnLoad: false, securityLevel: "strict" });
let input = "";
for await (const chunk of process.stdin) input += chunk;
const blocks = JSON.parse(input);
let bad = 0;
for (const [i, b] of blocks.entries()) {
  try { await mermaid.parse(b); } catch (e) { bad++; console.log(`block ${i}: ${String(e.message || e).split("\n")[0]}`); }
}
console.log(`parsed ${blocks.length}, failed ${bad}`);
process.exit(bad ? 1 : 0);
