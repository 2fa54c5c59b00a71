// Drawing masks (fill + outline) and prompts on canvases. Mask pixels are written with putImageData, so the
// overlay's non-transparent pixels are exactly the visible masks (the browser tests read them back).

export const PALETTE = [
  [230, 25, 75], [60, 180, 75], [0, 130, 200], [245, 130, 48], [145, 30, 180],
  [70, 240, 240], [240, 50, 230], [210, 245, 60], [250, 190, 212], [0, 128, 128],
];

export function colorOf(index) {
  return PALETTE[index % PALETTE.length];
}

export function cssColor([r, g, b], alpha = 1) {
  return `rgba(${r}, ${g}, ${b}, ${alpha})`;
}

const FILL_ALPHA = 120;

// layers: [{mask: Uint8Array (row-major 0/1), color: [r, g, b], fromX?, toX?}], drawn in order (later on top).
// fromX/toX limit a layer to a column range (the compare view's swipe).
export function drawMasks(canvas, layers) {
  const { width: w, height: h } = canvas;
  const ctx = canvas.getContext("2d");
  const image = ctx.createImageData(w, h);
  const px = image.data;
  for (const { mask, color, fromX = 0, toX = w } of layers) {
    const [r, g, b] = color;
    for (let y = 0; y < h; y++) {
      for (let x = fromX; x < toX; x++) {
        const i = y * w + x;
        if (!mask[i]) continue;
        const edge = x === 0 || y === 0 || x === w - 1 || y === h - 1 ||
          !mask[i - 1] || !mask[i + 1] || !mask[i - w] || !mask[i + w];
        const o = i * 4;
        px[o] = r; px[o + 1] = g; px[o + 2] = b; px[o + 3] = edge ? 255 : FILL_ALPHA;
      }
    }
  }
  ctx.putImageData(image, 0, 0);
}

// The prompt layer is drawn at the screen's resolution (crisp marks and labels over small, enlarged frames),
// in image coordinates: setImageSize tells it the image's size.
export function setImageSize(canvas, w, h) {
  canvas.imageWidth = w;
  canvas.imageHeight = h;
}

// Points (green: positive, red: negative), boxes and id labels on the prompt layer.
export function drawPrompts(canvas, { points = [], labels = [], box = null, draft = null, tags = [] }) {
  const dpr = window.devicePixelRatio || 1;
  const width = Math.max(1, Math.round(canvas.clientWidth * dpr)), height = Math.max(1, Math.round(canvas.clientHeight * dpr));
  if (canvas.width !== width || canvas.height !== height) {
    canvas.width = width;
    canvas.height = height;
  }
  const ctx = canvas.getContext("2d");
  ctx.setTransform(1, 0, 0, 1, 0, 0);
  ctx.clearRect(0, 0, width, height);
  if (!canvas.imageWidth) return;
  const sx = width / canvas.imageWidth, sy = height / canvas.imageHeight;
  ctx.setTransform(sx, 0, 0, sy, 0, 0);
  const px = dpr / sx;  // one CSS pixel in image units
  ctx.lineWidth = 2 * px;
  for (const b of [box, draft]) {
    if (!b) continue;
    ctx.strokeStyle = b === draft ? "rgba(255,255,255,0.9)" : "rgba(255,215,0,0.95)";
    ctx.setLineDash(b === draft ? [6 * px, 4 * px] : []);
    ctx.strokeRect(b[0], b[1], b[2] - b[0], b[3] - b[1]);
  }
  ctx.setLineDash([]);
  points.forEach(([x, y], i) => {
    ctx.beginPath();
    ctx.arc(x, y, 5 * px, 0, 2 * Math.PI);
    ctx.fillStyle = labels[i] ? "#2ecc40" : "#ff4136";
    ctx.fill();
    ctx.strokeStyle = "white";
    ctx.stroke();
  });
  ctx.font = `bold ${13 * px}px sans-serif`;
  ctx.textAlign = "center";
  ctx.textBaseline = "middle";
  for (const { x, y, text, color } of tags) {
    const w = ctx.measureText(text).width + 10 * px;
    ctx.fillStyle = "rgba(0,0,0,0.75)";
    ctx.fillRect(x - w / 2, y - 10 * px, w, 20 * px);
    ctx.fillStyle = cssColor(color);
    ctx.fillText(text, x, y);
  }
}

// Where a label for a mask goes: its centroid.
export function centroid(mask, w) {
  let sx = 0, sy = 0, n = 0;
  for (let i = 0; i < mask.length; i++) {
    if (!mask[i]) continue;
    sx += i % w;
    sy += (i / w) | 0;
    n++;
  }
  return n ? { x: sx / n, y: sy / n } : null;
}

// Pointer position in image pixels (the prompt layer covers the image, whatever its own resolution).
export function canvasPoint(canvas, event) {
  const rect = canvas.getBoundingClientRect();
  const w = canvas.imageWidth || canvas.width, h = canvas.imageHeight || canvas.height;
  const x = ((event.clientX - rect.left) / rect.width) * w;
  const y = ((event.clientY - rect.top) / rect.height) * h;
  const clamp = (v, hi) => Math.min(Math.max(v, 0), hi - 1);
  return [Math.round(clamp(x, w) * 100) / 100, Math.round(clamp(y, h) * 100) / 100];
}

// Turns pointer events on a canvas into clicks (positive / negative) and drags (boxes).
export function attachPromptInput(canvas, { onPoint, onBox, onDraft }) {
  let start = null;
  canvas.addEventListener("contextmenu", (e) => e.preventDefault());
  canvas.addEventListener("pointerdown", (e) => {
    if (e.button !== 0 && e.button !== 2) return;
    canvas.setPointerCapture(e.pointerId);
    start = { e, p: canvasPoint(canvas, e), dragging: false };
  });
  canvas.addEventListener("pointermove", (e) => {
    if (!start) return;
    if (Math.hypot(e.clientX - start.e.clientX, e.clientY - start.e.clientY) > 6) start.dragging = true;
    if (start.dragging) onDraft(boxOf(start.p, canvasPoint(canvas, e)));
  });
  canvas.addEventListener("pointerup", (e) => {
    if (!start) return;
    const s = start;
    start = null;
    if (s.dragging) {
      onDraft(null);
      onBox(boxOf(s.p, canvasPoint(canvas, e)));
    } else {
      onPoint(s.p, s.e.button === 2 || s.e.shiftKey ? 0 : 1);
    }
  });
  canvas.addEventListener("pointercancel", () => { start = null; onDraft(null); });
}

function boxOf([ax, ay], [bx, by]) {
  return [Math.min(ax, bx), Math.min(ay, by), Math.max(ax, bx), Math.max(ay, by)];
}
