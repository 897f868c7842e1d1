/**
 * The shape every notification format has (one file per format, listed in formats.ts), and the
 * batch of events it turns into one message.
 */
import type { AlertEvent } from '../state.js';
import type { Target } from './targets.js';

/** What one message carries: events of one run (or of the outbox), or the --test-notification message. */
export interface Batch {
  host: string;
  events: readonly AlertEvent[];
  /** A `--test-notification` message: no event, and it says it is a test. */
  test: boolean;
  now: Date;
  /** Reminder interval: an Alertmanager alert stays firing this long (plus a margin) unless re-sent. */
  repeatMs: number;
}

/** One message ready to leave: an HTTP POST, or a mail handed to the system's sendmail. */
export type Outgoing =
  | { kind: 'http'; url: string; headers: Record<string, string>; body: string }
  | { kind: 'mail'; recipients: string[]; message: string };

export interface NotifyFormat {
  name: string;
  /** Longest text one message may carry; more events go in further messages. */
  maxText: number;
  /** True when the URL's host (or path) says this format: `hooks.slack.com` is slack. */
  claims?: (url: URL) => boolean;
  /** A target of this format is malformed (a Telegram URL without chat_id): the reason, else null. */
  invalid?: (url: URL) => string | null;
  build: (batch: Batch, target: Target) => Outgoing;
}

/** A JSON POST to the target. */
export function jsonPost(target: Target, body: unknown): Outgoing {
  return { kind: 'http', url: target.url, headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) };
}
