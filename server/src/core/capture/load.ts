/**
 * A capture from a file: a raw snapshot (capture.sh's output) is parsed and
 * converted; a `*.klpmodel.json` is read as a model file. Errors are
 * positioned, one per line, and never a stack trace.
 */
import { readFileSync, statSync } from 'node:fs';
import { decodeBytes } from '../text';
import { parseModelFile, formatModelFileErrors, type ModelFileSpec } from '../sim/modelFile';
import { parseCapture } from './parse';
import { captureToModel, CaptureModelError } from './toModel';

/** Raw snapshots of very large machines stay well below this. */
export const MAX_CAPTURE_BYTES = 512 * 1024 * 1024;

export class CaptureLoadError extends Error {}

/** Converts raw snapshot text; throws CaptureLoadError with positioned messages. */
export function modelFromRaw(text: string, name: string): ModelFileSpec {
  const { capture, errors } = parseCapture(text);
  if (errors.length) throw new CaptureLoadError(errors.map((e) => `${name}:${e.line}: ${e.message}`).join('\n'));
  try {
    return captureToModel(capture) as unknown as ModelFileSpec;
  } catch (e) {
    if (e instanceof CaptureModelError) throw new CaptureLoadError(`${name}: ${e.message}`);
    throw e;
  }
}

export function isRawCapture(text: string): boolean {
  return text.startsWith('klp-capture ');
}

/** A raw snapshot or a model file, by its first line. */
export function loadCapture(path: string): ModelFileSpec {
  let bytes: Buffer;
  try {
    const st = statSync(path);
    if (st.isDirectory()) throw new CaptureLoadError(`cannot read ${path}: it is a directory`);
    if (st.size > MAX_CAPTURE_BYTES) throw new CaptureLoadError(`${path} is ${st.size} bytes; captures are limited to ${MAX_CAPTURE_BYTES} bytes`);
    bytes = readFileSync(path);
  } catch (e) {
    if (e instanceof CaptureLoadError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    throw new CaptureLoadError(code === 'ENOENT' ? `cannot read ${path}: no such file` : `cannot read ${path}: ${code ?? String(e)}`);
  }
  const text = decodeBytes(bytes).text;
  if (isRawCapture(text)) return modelFromRaw(text, path);
  const { model, errors } = parseModelFile(text, path);
  if (errors.length || !model) throw new CaptureLoadError(formatModelFileErrors(path, errors).trimEnd());
  return model;
}
