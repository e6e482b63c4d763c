// The dashboard's one stylesheet, served from /ui/assets/app.css (the CSP allows
// styles from 'self' only, no inline ones). System fonts, no images: nothing external.
// Below 720px wide, tables marked .stack turn into one card per row.
export const STYLESHEET = `
:root {
  --bg: #f4f5f7; --panel: #fff; --ink: #1d2330; --muted: #5d6778; --line: #dde1e8; --accent: #2456c7;
  --ok: #16794a; --ok-bg: #e3f5ea; --run: #0b6e8a; --run-bg: #e0f3f8; --wait: #4a5a78; --wait-bg: #e8ecf4;
  --warn: #8a5a00; --warn-bg: #fff1d6; --bad: #b3261e; --bad-bg: #fde7e5; --off: #646c78; --off-bg: #eceef1;
  --mono: ui-monospace, SFMono-Regular, Menlo, Consolas, "Liberation Mono", monospace;
}
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body { margin: 0; background: var(--bg); color: var(--ink); font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
a { color: var(--accent); text-decoration: none; }
a:hover { text-decoration: underline; }
code, .mono { font-family: var(--mono); font-size: 12.5px; }
header.top { background: #1b2233; color: #fff; }
header.top .bar { max-width: 1280px; margin: 0 auto; padding: 10px 20px; display: flex; flex-wrap: wrap; align-items: center; gap: 6px 18px; }
header.top .brand { font-weight: 700; letter-spacing: .2px; color: #fff; font-size: 15px; }
header.top .brand span { color: #8fb0ff; font-weight: 500; }
header.top nav { display: flex; gap: 4px; flex-wrap: wrap; flex: 1; }
header.top nav a { color: #c9d3ea; padding: 5px 10px; border-radius: 6px; }
header.top nav a.current, header.top nav a:hover { background: #2d3750; color: #fff; text-decoration: none; }
header.top form { margin: 0; }
header.top .readonly { color: #c9d3ea; font-size: 13px; }
main { max-width: 1280px; margin: 0 auto; padding: 18px 20px 40px; }
h1 { font-size: 20px; margin: 4px 0 14px; display: flex; flex-wrap: wrap; align-items: center; gap: 8px 12px; }
h2 { font-size: 15px; margin: 0 0 10px; }
.sub { color: var(--muted); font-weight: 400; font-size: 14px; }
.panel { background: var(--panel); border: 1px solid var(--line); border-radius: 8px; padding: 14px 16px; margin-bottom: 16px; overflow-wrap: anywhere; }
.panel.flush { padding: 0; overflow: hidden; }
.panel.flush h2 { padding: 14px 16px 0; }
.empty { color: var(--muted); padding: 14px 16px; margin: 0; }
table { width: 100%; border-collapse: collapse; }
th, td { text-align: left; vertical-align: top; padding: 9px 12px; border-top: 1px solid var(--line); }
th { font-size: 12px; text-transform: uppercase; letter-spacing: .4px; color: var(--muted); font-weight: 600; background: #fafbfc; border-top: 0; white-space: nowrap; }
tbody tr:hover { background: #fafbff; }
td.num { font-variant-numeric: tabular-nums; white-space: nowrap; }
.nowrap { white-space: nowrap; }
.muted { color: var(--muted); }
.small { font-size: 12.5px; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 999px; font-size: 12px; font-weight: 600; line-height: 18px; white-space: nowrap; border: 1px solid transparent; }
.s-ready, .s-healthy, .s-successful { color: var(--ok); background: var(--ok-bg); border-color: #bfe6cf; }
.s-provisioning, .s-running, .s-active { color: var(--run); background: var(--run-bg); border-color: #b9e2ee; }
.s-pending, .s-waiting, .s-waiting_for_build, .s-delayed, .s-initializing { color: var(--wait); background: var(--wait-bg); border-color: #d3dbea; }
.s-degraded, .s-paused, .s-blocked { color: var(--warn); background: var(--warn-bg); border-color: #f2d9a6; }
.s-failed, .s-parked, .s-cancelled, .s-lost { color: var(--bad); background: var(--bad-bg); border-color: #f4c4bf; }
.s-tearing_down, .s-removed, .s-stopped, .s-complete, .s-dead, .s-unknown { color: var(--off); background: var(--off-bg); border-color: #dadde2; }
.chips { display: flex; flex-wrap: wrap; gap: 4px; }
.label { display: inline-block; font-size: 12px; padding: 0 7px; border-radius: 4px; background: #eef1f6; color: #3b4556; border: 1px solid var(--line); }
.title { margin-top: 3px; max-width: 40ch; }
code.branch { color: var(--muted); font-size: 12px; overflow-wrap: anywhere; }
.reason { margin-top: 4px; font-size: 12.5px; color: var(--muted); max-width: 46ch; }
.reason.bad { color: var(--bad); }
pre.error { margin: 6px 0 0; padding: 8px 10px; background: #fff6f5; border: 1px solid #f4c4bf; border-radius: 6px; color: #7d1c16; font: 12px/1.45 var(--mono); white-space: pre-wrap; overflow-wrap: anywhere; max-height: 16em; overflow: auto; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 6px 18px; margin: 0; }
dl.facts dt { color: var(--muted); }
dl.facts dd { margin: 0; min-width: 0; overflow-wrap: anywhere; }
.grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(320px, 1fr)); gap: 16px; }
.grid > .panel { margin-bottom: 0; }
.grid { margin-bottom: 16px; }
.chips.labels { margin-top: 4px; }
pre.error.banner { margin: 0 0 16px; font-size: 12.5px; }
.tiles { display: grid; grid-template-columns: repeat(auto-fit, minmax(130px, 1fr)); gap: 12px; margin-bottom: 16px; }
.tile { background: var(--panel); border: 1px solid var(--line); border-radius: 8px; padding: 12px 14px; }
.tile .n { font-size: 24px; font-weight: 700; font-variant-numeric: tabular-nums; }
.tile .t { color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: .4px; }
.tile.bad .n { color: var(--bad); }
.timeline { list-style: none; margin: 0; padding: 0; }
.timeline li { display: grid; grid-template-columns: 210px 100px 1fr; gap: 4px 12px; padding: 8px 16px; border-top: 1px solid var(--line); }
.timeline li.failed { background: #fffafa; }
.timeline .type { font-family: var(--mono); font-size: 12px; }
.component { border-top: 1px solid var(--line); padding: 12px 16px; }
.component header { display: flex; flex-wrap: wrap; align-items: center; gap: 6px 10px; margin-bottom: 6px; }
.component header strong { font-size: 14px; }
.events { margin: 6px 0 0; padding: 0; list-style: none; font-size: 12.5px; }
.events li { padding: 3px 0; display: grid; grid-template-columns: 70px 140px 1fr; gap: 8px; }
button, .button { white-space: nowrap; font: inherit; font-weight: 600; font-size: 13px; padding: 6px 12px; border-radius: 6px; border: 1px solid #c4ccda; background: #fff; color: var(--ink); cursor: pointer; }
button.primary { background: var(--accent); border-color: var(--accent); color: #fff; }
button.danger { background: var(--bad); border-color: var(--bad); color: #fff; }
button.ghost { background: transparent; border-color: #4a5574; color: #dfe6f5; }
button:hover { filter: brightness(.96); }
form.inline { display: inline; margin: 0; }
.notice { padding: 10px 14px; border-radius: 8px; margin-bottom: 16px; border: 1px solid; }
.notice.ok { background: var(--ok-bg); border-color: #bfe6cf; color: #0f5535; }
.notice.bad { background: var(--bad-bg); border-color: #f4c4bf; color: #7d1c16; }
.signin { max-width: 380px; margin: 10vh auto 0; }
.signin label { display: block; font-weight: 600; margin-bottom: 6px; }
.signin input[type=password] { width: 100%; font: inherit; padding: 8px 10px; border: 1px solid #c4ccda; border-radius: 6px; margin-bottom: 12px; }
.signin button { width: 100%; padding: 9px; }
.actions { display: flex; flex-wrap: wrap; gap: 8px; align-items: center; }
@media (max-width: 720px) {
  header.top .bar, main { padding-left: 12px; padding-right: 12px; }
  header.top form { margin-left: auto; }
  header.top nav { order: 3; flex-basis: 100%; }
  table.stack thead { display: none; }
  table.stack, table.stack tbody, table.stack tr, table.stack td { display: block; width: 100%; }
  table.stack tr { border-top: 1px solid var(--line); padding: 8px 0; }
  table.stack td { border: 0; padding: 3px 14px; display: grid; grid-template-columns: 108px minmax(0, 1fr); gap: 8px; }
  table.stack td[data-label=""] { grid-template-columns: 1fr; }
  table.stack td::before { content: attr(data-label); color: var(--muted); font-size: 11.5px; text-transform: uppercase; letter-spacing: .2px; padding-top: 2px; overflow-wrap: normal; }
  .tiles { grid-template-columns: repeat(3, minmax(0, 1fr)); gap: 8px; }
  .tile { padding: 10px; }
  .tile .n { font-size: 20px; }
  .timeline li { grid-template-columns: 1fr; gap: 2px; }
  .events li { grid-template-columns: 60px 1fr; }
  .events li .msg { grid-column: 1 / -1; }
  dl.facts { grid-template-columns: 1fr; gap: 0 0; }
  dl.facts dd { margin-bottom: 8px; }
  .grid { grid-template-columns: 1fr; }
}
`;
