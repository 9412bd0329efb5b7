/**
 * The custom requests between the VS Code client and the language server, with their params and
 * results, in one place both import (as rust-analyzer's lsp_ext.ts). Other clients (Neovim, the
 * tests) send the same method names. Types only come from the core; nothing here runs analysis.
 */
import { RequestType } from 'vscode-languageserver-protocol';
import type { ReportFile } from './services/report';
import type { FleetResult } from './core/sim/fleet';
import type { PrecheckResult } from './core/sim/precheck';
import type { SimResult } from './core/sim/types';

/** The command a code action runs after its edit: shows what the fix left to the author (its arguments). */
export const FIX_NOTES_COMMAND = 'livepatchLens.fixNotes';

export interface GenerateModuleParams {
  uri: string;
  /** The folder to write the module source into. */
  out: string;
}
export interface GenerateModuleResult {
  ok: boolean;
  message: string;
  files?: string[];
  problems?: string[];
}
/** Write the livepatch module for a document into a folder (the client picks it). Needs workspace trust. */
export const GenerateModuleRequest = new RequestType<GenerateModuleParams, GenerateModuleResult, void>('livepatchLens/generateModule');

/**
 * Simulate the transition of an open patch: the document and the CLI's options (model, models,
 * seed, kernel, arch, trace, fleet, prevalence…), checked by the server (core/sim/session.ts).
 */
export interface SimulateParams {
  uri: string;
  [option: string]: unknown;
}
export type SimulateResponse =
  | { ok: true; kind: 'run'; result: SimResult; notes: string[]; locations: Record<string, number> }
  | { ok: true; kind: 'fleet'; fleet: FleetResult; notes: string[]; locations: Record<string, number> }
  | { ok: false; message: string };
/** The answer carries the same JSON as `klp-lens simulate --format json`, or a message. */
export const SimulateRequest = new RequestType<SimulateParams, SimulateResponse, void>('livepatchLens/simulate');

export interface PrecheckParams {
  uri: string;
  /** A capture file (`*.klpmodel.json` or a raw snapshot). */
  capture: string;
}
export type PrecheckResponse = { ok: true; text: string; result: PrecheckResult } | { ok: false; message: string };
/** Precheck an open patch on a capture file (`klp-lens precheck PATCH --capture FILE`). Needs workspace trust. */
export const PrecheckRequest = new RequestType<PrecheckParams, PrecheckResponse, void>('livepatchLens/precheck');

export interface PatchModelParams {
  uri: string;
}
/** The patch model of a document as the CLI's JSON report (`klp-lens check --format json`), or null. */
export const PatchModelRequest = new RequestType<PatchModelParams, ReportFile | null, void>('livepatchLens/patchModel');
