// Where video mode's frames come from: a local file (seeked frame by frame at the chosen rate) or the camera
// (its latest frame), through the page's hidden <video> element, drawn into the stage's picture canvas and sent
// as JPEG.
import { limitSide } from "../geometry.js";

export const MAX_SIDE = 1280;   // frames are sent at most this large (the model resizes to its own size anyway)
const SEEK_TIMEOUT_MS = 15_000;  // a seek that neither lands nor fails this long: the file stopped decoding
const JPEG_QUALITY = 0.9;

export class VideoSource {
  /**
   * @param {HTMLVideoElement} video
   * @param {{ kind: "file" | "camera", name: string, fps: number | null, frameCount: number, stream?: MediaStream }} info
   */
  constructor(video, { kind, name, fps, frameCount, stream }) {
    this.video = video;
    this.kind = kind;
    this.name = name;
    this.fps = fps;
    this.frameCount = frameCount;   // Infinity for the camera
    this.stream = stream ?? null;
    this.stopped = false;
    /** aborted by stop(): a seek in progress rejects at once */
    this.stopping = new AbortController();
    // The size frames are drawn and sent at.
    const size = limitSide({ width: video.videoWidth, height: video.videoHeight }, MAX_SIDE);
    this.width = size.width;
    this.height = size.height;
  }

  /**
   * A video file, taken at `fps` frames a second, its first frame decoded. Rejects with a readable error when the
   * browser cannot decode it (the element is then left empty).
   * @param {HTMLVideoElement} video @param {File} file @param {number} fps
   */
  static async openFile(video, file, fps) {
    video.src = URL.createObjectURL(file);
    video.muted = true;
    try {
      await new Promise((resolve, reject) => {
        video.onloadedmetadata = resolve;
        video.onerror = () => reject(new Error(`${file.name}: this browser cannot decode the video`));
      });
      video.onerror = null;
      if (!Number.isFinite(video.duration) || !video.videoWidth) {
        throw new Error(`${file.name}: no video track of known length this browser can decode`);
      }
      const frameCount = Math.max(1, Math.floor(video.duration * fps + 1e-6));
      const source = new VideoSource(video, { kind: "file", name: file.name, fps, frameCount });
      await source.seek(0);
      return source;
    } catch (e) {
      URL.revokeObjectURL(video.src);
      video.removeAttribute("src");
      throw e;
    }
  }

  /** The camera, playing. @param {HTMLVideoElement} video */
  static async openCamera(video) {
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ video: { width: { ideal: 640 } }, audio: false });
    } catch (e) {
      throw new Error(`The camera is not available: ${e instanceof Error ? e.message : e}`, { cause: e });
    }
    video.srcObject = stream;
    video.muted = true;
    await video.play();
    return new VideoSource(video, { kind: "camera", name: "camera", fps: null, frameCount: Infinity, stream });
  }

  get isFile() {
    return this.kind === "file";
  }

  /**
   * Shows a file's frame (its middle: no rounding onto its neighbour). Rejects, never hangs, when the file stops
   * decoding there (a decode error, or a seek that never lands).
   * @param {number} frame
   */
  async seek(frame) {
    const video = this.video;
    const t = (frame + 0.5) / (this.fps ?? 1);
    const broken = () => new Error(`${this.name}: frame ${frame} cannot be decoded (the file is damaged or cut short `
      + `there${video.error ? `: ${video.error.message || `media error ${video.error.code}`}` : ""}); `
      + "the frames before it keep their masks.");
    if (video.error) throw broken();
    if (Math.abs(video.currentTime - t) > 1e-6 || video.readyState < HTMLMediaElement.HAVE_CURRENT_DATA) {
      /** @type {() => void} */
      let cleanup = () => {};
      try {
        await new Promise((resolve, reject) => {
          const fail = () => reject(broken());
          const timer = setTimeout(fail, SEEK_TIMEOUT_MS);
          const stopped = () => reject(new Error(`${this.name}: closed`));
          if (this.stopping.signal.aborted) return stopped();
          video.addEventListener("seeked", resolve, { once: true });
          video.addEventListener("error", fail, { once: true });
          this.stopping.signal.addEventListener("abort", stopped, { once: true });
          cleanup = () => {
            clearTimeout(timer);
            video.removeEventListener("seeked", resolve);
            video.removeEventListener("error", fail);
            this.stopping.signal.removeEventListener("abort", stopped);
          };
          video.currentTime = t;
        });
      } finally {
        cleanup();
      }
    }
    if (video.error || video.readyState < HTMLMediaElement.HAVE_CURRENT_DATA) throw broken();
  }

  /** Draws the frame shown into a canvas context at the size frames are sent at. @param {CanvasRenderingContext2D} ctx */
  grab(ctx) {
    ctx.drawImage(this.video, 0, 0, this.width, this.height);
  }

  /**
   * Counts the frames the camera shows (to report those dropped while the server was busy) until the source stops.
   * @param {() => void} onFrame
   */
  countPresentedFrames(onFrame) {
    if (!("requestVideoFrameCallback" in HTMLVideoElement.prototype)) return;
    const tick = () => {
      if (this.stopped) return;
      onFrame();
      this.video.requestVideoFrameCallback(tick);
    };
    this.video.requestVideoFrameCallback(tick);
  }

  stop() {
    this.stopped = true;
    this.stopping.abort();
    this.stream?.getTracks().forEach((t) => t.stop());
    this.video.srcObject = null;
    if (this.video.src.startsWith("blob:")) URL.revokeObjectURL(this.video.src);
    this.video.removeAttribute("src");
  }
}

/** The canvas' pixels as a JPEG. @param {HTMLCanvasElement} canvas @returns {Promise<ArrayBuffer>} */
export async function canvasJpeg(canvas) {
  const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", JPEG_QUALITY));
  if (!blob) throw new Error("the browser could not encode the frame as JPEG");
  return /** @type {Blob} */ (blob).arrayBuffer();
}
