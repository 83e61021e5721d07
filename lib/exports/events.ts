/**
 * The completion event: on the default EventBridge bus, source `zoho-crm-bulk-export`, detail-type
 * `Export Completed` or `Export Failed`, detail = the export without its pages, plus the manifest
 * location. Published after the state is recorded and retried until it goes out (at least once: a
 * consumer deduplicates on `detail.export_id`). Locally, events are appended to a JSON-lines file.
 */
import { appendFile, mkdir, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { type EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { CodedError } from '../errors.js';
import type { ExportRecord, PublicExport } from './model.js';

export const EVENT_SOURCE = 'zoho-crm-bulk-export';
export const EVENT_TYPES = { COMPLETED: 'Export Completed', FAILED: 'Export Failed' } as const;

export interface ExportEvent {
  source: typeof EVENT_SOURCE;
  detailType: (typeof EVENT_TYPES)[keyof typeof EVENT_TYPES];
  detail: Omit<PublicExport, 'pages'> & { pages: number };
}

/** A snapshot's one event (lib/snapshots/end.ts): every module's export has ended. */
export const SNAPSHOT_EVENT_TYPES = { COMPLETED: 'Snapshot Completed', FAILED: 'Snapshot Failed' } as const;

export interface SnapshotEvent {
  source: typeof EVENT_SOURCE;
  detailType: (typeof SNAPSHOT_EVENT_TYPES)[keyof typeof SNAPSHOT_EVENT_TYPES];
  /** The snapshot's JSON (lib/snapshots/model.ts) and its manifest's location. */
  detail: { snapshot_id: string } & Record<string, unknown>;
}

export type BusEvent = ExportEvent | SnapshotEvent;

export interface EventPublisher {
  publish(event: BusEvent): Promise<void>;
}

export function exportEvent(
  e: ExportRecord,
  summary: Omit<PublicExport, 'pages'> & { pages: number },
): ExportEvent {
  return {
    source: EVENT_SOURCE,
    detailType: e.status === 'COMPLETED' ? EVENT_TYPES.COMPLETED : EVENT_TYPES.FAILED,
    detail: summary,
  };
}

/** EventBridge refused the event: the sweep publishes it again. */
export class PublishError extends CodedError {
  override name = 'PublishError';
  constructor(message: string) {
    super({ code: 'EVENT_PUBLISH_FAILED', kind: 'retryable', message });
  }
}

/** EventBridge's default bus. A partial failure is a failure (PutEvents answers 200 and lists it). */
export function eventBridgePublisher(client: EventBridgeClient): EventPublisher {
  return {
    async publish(event) {
      const r = await client.send(
        new PutEventsCommand({
          Entries: [
            { Source: event.source, DetailType: event.detailType, Detail: JSON.stringify(event.detail) },
          ],
        }),
      );
      if ((r.FailedEntryCount ?? 0) > 0) {
        const f = r.Entries?.find((x) => x.ErrorCode);
        throw new PublishError(
          `EventBridge refused the event: ${f?.ErrorCode ?? 'unknown'} ${f?.ErrorMessage ?? ''}`.trim(),
        );
      }
    },
  };
}

/** The local stack's bus: one JSON object per line in `file` (read back by `GET /events`). */
export function fileEventPublisher(
  file: string,
): EventPublisher & { read(): Promise<Array<BusEvent & { time: string }>> } {
  return {
    async publish(event) {
      await mkdir(dirname(file), { recursive: true });
      await appendFile(file, `${JSON.stringify({ time: new Date().toISOString(), ...event })}\n`);
    },
    async read() {
      const text = await readFile(file, 'utf8').catch(() => '');
      return text
        .split('\n')
        .filter((l) => l.trim())
        .map((l) => JSON.parse(l) as BusEvent & { time: string });
    },
  };
}
