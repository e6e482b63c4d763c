// Live mode's test-side facts (README "Live mode"): where the live templates put the
// copy of a task's env that Nomad's fs API may read.
export const LIVE_ENV_FILE = 'local/observed.env';
