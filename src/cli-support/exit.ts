/** Exit codes: 0 ok, 1 runtime failure, 2 usage/config error, 3 host needs a manual step. */
export const EXIT = { OK: 0, RUNTIME: 1, USAGE: 2, MANUAL: 3 } as const
