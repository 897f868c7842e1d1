declare const MIZUAL_VERSION: string | undefined;

/** The package version, injected at build time (`0.0.0-dev` when run from source). */
export const VERSION: string = typeof MIZUAL_VERSION === 'string' ? MIZUAL_VERSION : '0.0.0-dev';
