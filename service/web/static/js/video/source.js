// Where video mode's frames come from: a local file (seeked frame by frame at the chosen rate) or the camera
// (its latest frame), through the page's hidden <video> element, drawn into the stage's picture canvas and sent
// as JPEG.
import { limitSide } from "../geometry.js";

export const MAX_SIDE = 1280;   // frames are sent at most this large (the model resizes to its own size anyway)
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
    // The size frames are drawn and sent at.
    const size = limitSide({ width: video.videoWidth, height: video.videoHeight }, MAX_SIDE);
    this.width = size.width;
    this.height = size.height;
  }

  /**
   * A video file, taken at `fps` frames a second. Rejects with a readable error when the browser cannot decode it.
   * @param {HTMLVideoElement} video @param {File} file @param {number} fps
   */
  static async openFile(video, file, fps) {
    video.src = URL.createObjectURL(file);
    video.muted = true;
    await new Promise((resolve, reject) => {
      video.onloadedmetadata = resolve;
      video.onerror = () => reject(new Error(`${file.name}: this browser cannot decode the video`));
    });
    const frameCount = Math.max(1, Math.floor(video.duration * fps + 1e-6));
    return new VideoSource(video, { kind: "file", name: file.name, fps, frameCount });
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

  /** Shows a file's frame (its middle: no rounding onto its neighbour). @param {number} frame */
  async seek(frame) {
    const t = (frame + 0.5) / (this.fps ?? 1);
    if (Math.abs(this.video.currentTime - t) > 1e-6) {
      await new Promise((resolve) => {
        this.video.addEventListener("seeked", resolve, { once: true });
        this.video.currentTime = t;
      });
    }
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
    this.stream?.getTracks().forEach((t) => t.stop());
    this.video.srcObject = null;
    this.video.removeAttribute("src");
  }
}

/** The canvas' pixels as a JPEG. @param {HTMLCanvasElement} canvas @returns {Promise<ArrayBuffer>} */
export async function canvasJpeg(canvas) {
  const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", JPEG_QUALITY));
  if (!blob) throw new Error("the browser could not encode the frame as JPEG");
  return /** @type {Blob} */ (blob).arrayBuffer();
}
