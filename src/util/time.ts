/**
 * ISO 8601 UTC timestamps (what `Date.prototype.toISOString` gives) by
 * arithmetic. V8's Date methods initialise its time-zone cache through ICU
 * on first use, which faults ~0.9 MB of ICU data and code pages of the node
 * binary into every process that logs a line; the agent logs with this
 * instead and never needs a time zone.
 */

const DAY_MS = 86_400_000

const two = (n: number): string => (n < 10 ? `0${n}` : `${n}`)

/**
 * `new Date(ms).toISOString()` for ms since the epoch (years 0 to 9999;
 * outside them, or for a value that is not a finite number, Date's own
 * answer, which throws a RangeError for an invalid time).
 */
export function isoTime(ms: number = Date.now()): string {
  if (!(ms >= -62_167_219_200_000 && ms < 253_402_300_800_000)) return new Date(ms).toISOString()
  const t = Math.trunc(ms) // as Date does (TimeClip)
  const days = Math.floor(t / DAY_MS)
  let rest = t - days * DAY_MS
  // civil date from days since 1970-01-01 (proleptic Gregorian, eras of 400 years)
  const z = days + 719_468
  const era = Math.floor(z / 146_097)
  const doe = z - era * 146_097
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36_524) - Math.floor(doe / 146_096)) / 365)
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100))
  const mp = Math.floor((5 * doy + 2) / 153)
  const day = doy - Math.floor((153 * mp + 2) / 5) + 1
  const month = mp < 10 ? mp + 3 : mp - 9
  const year = yoe + era * 400 + (month <= 2 ? 1 : 0)
  const h = Math.floor(rest / 3_600_000)
  rest -= h * 3_600_000
  const m = Math.floor(rest / 60_000)
  rest -= m * 60_000
  const s = Math.floor(rest / 1000)
  const milli = rest - s * 1000
  const y = year < 1000 ? String(year).padStart(4, '0') : String(year)
  return `${y}-${two(month)}-${two(day)}T${two(h)}:${two(m)}:${two(s)}.${milli < 10 ? `00${milli}` : milli < 100 ? `0${milli}` : milli}Z`
}
