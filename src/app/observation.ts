/**
 * What an application check hands to mizual-alerts: the same shape as the alerts' Observation
 * (src/alerts/state.ts), declared here because a service folder never imports a tool's folder.
 */
export interface AppObservation {
  check: string;
  severity: 'warning' | 'critical';
  value: number | string | null;
  threshold: number | string | null;
  message: string;
  failing?: boolean;
  unknown?: boolean;
  skipped?: boolean;
  note?: string;
  data?: Record<string, number | string | boolean | null>;
}
