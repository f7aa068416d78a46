/**
 * The console's stylesheet: system fonts, light and dark, and a layout that reflows to one column on a phone
 * (390 px) without sideways scrolling. Colours of the charts are classes here, never inline styles (the CSP allows
 * this stylesheet by its hash and nothing else).
 */
export const STYLE = `
:root{color-scheme:light dark;--bg:#fff;--fg:#1b1f24;--muted:#59636e;--line:#d0d7de;--card:#f6f8fa;--ok:#1a7f37;--bad:#c62828;--warn:#9a6700;--acc:#0b57d0;--p:#2f6fdb;--c:#8250df}
@media (prefers-color-scheme:dark){:root{--bg:#101317;--fg:#e6e9ed;--muted:#9aa4b2;--line:#353c46;--card:#181d24;--ok:#3fb950;--bad:#ff7b72;--warn:#d29922;--acc:#7aa7ff;--p:#6d9bff;--c:#b392f0}}
*{box-sizing:border-box}
body{margin:0;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;background:var(--bg);color:var(--fg)}
.top{display:flex;flex-wrap:wrap;gap:.25rem 1rem;align-items:center;padding:.6rem 1rem;border-bottom:1px solid var(--line)}
h1{font-size:1.15rem;margin:0;flex:1 1 auto}
h2{font-size:1.1rem;margin:0 0 .6rem;padding-bottom:.25rem;border-bottom:1px solid var(--line)}
h3{font-size:1rem;margin:0}
main{max-width:62rem;margin:0 auto;padding:0 1rem 3rem}
section{margin-top:1.5rem}
p{margin:.4rem 0}
.muted,small{color:var(--muted)}
.top p{margin:0;font-size:.85rem}
.cards{display:grid;gap:.75rem;grid-template-columns:repeat(auto-fill,minmax(min(100%,18rem),1fr));margin-top:.75rem}
.card{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:.75rem;min-width:0;overflow-wrap:anywhere}
.card .row{justify-content:space-between}
dl{display:grid;grid-template-columns:auto minmax(0,1fr);gap:.15rem .75rem;margin:.5rem 0;font-size:.92rem}
dt{color:var(--muted)}
dd{margin:0}
.field{display:flex;flex-direction:column;gap:.2rem;min-width:0}
.grow{flex:1 1 12rem}
.end{justify-content:flex-end}
.row{display:flex;flex-wrap:wrap;gap:.5rem .75rem;align-items:flex-end}
fieldset{display:grid;gap:.75rem;grid-template-columns:repeat(auto-fill,minmax(min(100%,12rem),1fr));border:1px solid var(--line);border-radius:8px;padding:.75rem;margin:0}
legend{font-weight:600;padding:0 .25rem}
input,select,button{font:inherit;padding:.45rem .6rem;border:1px solid var(--line);border-radius:6px;background:var(--bg);color:inherit;max-width:100%;min-width:0}
input[readonly]{font-family:ui-monospace,SFMono-Regular,Menlo,monospace}
button{cursor:pointer;background:var(--acc);color:#fff;border-color:var(--acc);font-weight:600}
button.quiet{background:transparent;color:var(--acc)}
button.danger{background:var(--bad);border-color:var(--bad)}
button:disabled{opacity:.6;cursor:progress}
:focus-visible{outline:3px solid var(--acc);outline-offset:2px}
code{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:.9em}
.error{color:var(--bad);font-weight:600}
.error:empty{display:none}
.banner{border:1px solid var(--bad);border-radius:8px;padding:.6rem .8rem;margin-top:1rem}
.secret{margin-top:.75rem;border-color:var(--ok)}
.state{font-weight:700}
.state.ok{color:var(--ok)}
.state.down{color:var(--bad)}
.state.loading{color:var(--warn)}
figure{margin:1rem 0}
figcaption{font-size:.9rem;color:var(--muted);margin-bottom:.25rem}
svg{display:block;width:100%;height:auto;border-bottom:1px solid var(--line)}
svg .ok{fill:var(--acc)}
svg .err{fill:var(--bad)}
svg .p{fill:var(--p)}
svg .c{fill:var(--c)}
svg text{font-size:10px;fill:var(--muted)}
svg line{stroke:var(--line)}
.sw{display:inline-block;width:.7em;height:.7em;border-radius:2px;margin-left:.4em;vertical-align:baseline}
.sw.ok{background:var(--acc)}
.sw.err{background:var(--bad)}
.sw.p{background:var(--p)}
.sw.c{background:var(--c)}
.scroll{overflow-x:auto}
table{border-collapse:collapse;width:100%;font-size:.88rem;font-variant-numeric:tabular-nums}
caption{text-align:left;color:var(--muted);padding-bottom:.25rem}
th,td{text-align:right;padding:.3rem .4rem;border-bottom:1px solid var(--line)}
th:first-child,td:first-child{text-align:left;overflow-wrap:anywhere;min-width:5.5rem}
tfoot td{font-weight:700}
dialog{border:1px solid var(--line);border-radius:10px;background:var(--bg);color:var(--fg);width:min(28rem,calc(100vw - 2rem))}
dialog::backdrop{background:rgb(0 0 0/.45)}
[hidden]{display:none!important}
`;
