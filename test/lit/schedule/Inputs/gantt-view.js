// Runs the view arithmetic of a --gantt FILE.html page under node and checks
// what a user sees after zooming and panning along the time axis:
//   node gantt-view.js PAGE.html [WIDTH]
// Prints one line per zoom step and exits 1 with a FAIL line when the view
// leaves the window, drifts from the centre, goes blank, or a bar whose
// label fits is drawn without one.
'use strict';
const fs = require('fs');
const vm = require('vm');

const html = fs.readFileSync(process.argv[2], 'utf8');
const width = +(process.argv[3] || 1200);
function script(id) {
  const m = html.match(new RegExp('<script id="' + id + '"[^>]*>([\\s\\S]*?)</script>'));
  if (!m) fail('no <script id="' + id + '"> in the page');
  return m[1];
}
function fail(why) {
  console.log('FAIL: ' + why);
  process.exit(1);
}

const data = JSON.parse(script('gantt-data'));
const sandbox = {module: {exports: {}}, Math};
vm.runInNewContext(script('gantt-core'), sandbox);
const C = sandbox.module.exports;

function check(view, what) {
  const eps = data.length * 1e-9;
  if (!(view.t0 >= -eps && view.t1 <= data.length + eps && view.t1 > view.t0))
    fail(what + ': view [' + view.t0 + ', ' + view.t1 + '] leaves [0, ' +
         data.length + ']');
  const drawn = C.layout(data, view, width);
  if (drawn.length === 0) fail(what + ': nothing drawn');
  let labelled = 0;
  for (const d of drawn) {
    if (d.x + d.w < 0 || d.x > width) fail(what + ': bar drawn off screen');
    const visible = Math.min(d.x + d.w, width) - Math.max(d.x, 0);
    const labels = data.bars[d.bar][5];
    const shortest = labels[labels.length - 1];
    if (!d.label && shortest.length * C.CHAR_PX + 6 <= visible)
      fail(what + ': bar ' + labels[0] + ' has room but no label');
    if (d.label) ++labelled;
  }
  const ticks = C.ticks(data, view, 12);
  if (ticks.length < 2) fail(what + ': fewer than two ticks');
  return {drawn: drawn.length, labelled};
}

let view = C.reset(data);
const centre = (view.t0 + view.t1) / 2;
const first = check(view, 'zoom 0');
console.log('zoom 0: ' + first.drawn + ' bars, ' + first.labelled + ' labelled');
let last = first;
for (let k = 1; k <= 6; ++k) {
  view = C.zoom(data, view, C.ZOOM_STEP);
  const mid = (view.t0 + view.t1) / 2;
  if (Math.abs(mid - centre) > data.length * 1e-9)
    fail('zoom ' + k + ': centre moved from ' + centre + ' to ' + mid);
  const expected = data.length / Math.pow(C.ZOOM_STEP, k);
  if (Math.abs(view.t1 - view.t0 - expected) > expected * 1e-9)
    fail('zoom ' + k + ': span ' + (view.t1 - view.t0) + ', not ' + expected);
  last = check(view, 'zoom ' + k);
  if (k === 3 || k === 6)
    console.log('zoom ' + k + ': ' + last.drawn + ' bars, ' + last.labelled +
                ' labelled');
}
// Labels appear as the bars widen: a bar unlabelled at zoom 0 carries one
// at zoom 6.
const share0 = first.labelled / first.drawn, share6 = last.labelled / last.drawn;
if (share0 < 1 && !(share6 > share0)) fail('zoom 6 labels ' + share6 + ' of the bars, zoom 0 ' + share0);
// Panning (drag) past either end stops at the window's edge.
let right = C.pan(data, view, 10 * data.length);
check(right, 'pan right');
if (Math.abs(right.t1 - data.length) > data.length * 1e-9) fail('pan right stops early');
let left = C.pan(data, view, -10 * data.length);
check(left, 'pan left');
if (Math.abs(left.t0) > data.length * 1e-9) fail('pan left stops early');
// Zooming in at the right edge keeps the right edge in view.
let edge = C.zoom(data, right, C.ZOOM_STEP, right.t1);
check(edge, 'zoom at the right edge');
if (Math.abs(edge.t1 - data.length) > data.length * 1e-9) fail('zoom at the edge moved it');
for (let k = 0; k < 60; ++k) view = C.zoom(data, view, 1 / C.ZOOM_STEP);
check(view, 'zoom out');
if (view.t0 !== 0 || view.t1 !== data.length) fail('zoom out stops short of the window');
console.log('ok');
