/** The Linux errno values rtnetlink answers fabric with (asm-generic/errno-base.h, errno.h). */
export const ERRNO = {
  EPERM: 1,
  ENOENT: 2,
  ESRCH: 3,
  EACCES: 13,
  EEXIST: 17,
  ENODEV: 19,
  EINVAL: 22,
  ENETUNREACH: 101,
  ENOBUFS: 105,
  EHOSTUNREACH: 113,
} as const

const NAMES = new Map<number, string>(Object.entries(ERRNO).map(([name, n]) => [n, name]))

/** `EEXIST`, ... or `errno N` for one fabric has no name for. */
export function errnoName(errno: number): string {
  return NAMES.get(errno) ?? `errno ${errno}`
}
