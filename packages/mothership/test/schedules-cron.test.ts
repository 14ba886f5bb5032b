import { describe, expect, it } from 'vitest';

import { canonicalTimeZone, CronSchedule, planFires } from '../src/schedules/cron-schedule.ts';

/**
 * The next-fire computation (croner) and which due slots fire, without a database or waiting:
 * DST in Europe/Berlin (clocks go from 02:00 to 03:00 on the last Sunday of March and from 03:00
 * back to 02:00 on the last Sunday of October), seconds, and the catch-up rules.
 */
const iso = (dates: Array<Date | null>) => dates.map((d) => d?.toISOString() ?? null);
const at = (text: string) => new Date(text);

describe('next fires', () => {
  it('fires "30 2 * * *" in Berlin once a day around both DST changes of 2026', () => {
    const daily = CronSchedule.parse('30 2 * * *', 'Europe/Berlin');
    // Spring: 02:30 does not exist on 29 March; it fires at the end of the gap (03:00 CEST = 01:00Z).
    expect(iso(daily.nextSlots(4, at('2026-03-27T12:00:00Z')))).toEqual([
      '2026-03-28T01:30:00.000Z', // 02:30 CET (UTC+1)
      '2026-03-29T01:00:00.000Z', // the gap's end, 03:00 CEST
      '2026-03-30T00:30:00.000Z', // 02:30 CEST (UTC+2)
      '2026-03-31T00:30:00.000Z',
    ]);
    // Autumn: 02:30 happens twice on 25 October; it fires once, at the first (CEST).
    expect(iso(daily.nextSlots(4, at('2026-10-23T12:00:00Z')))).toEqual([
      '2026-10-24T00:30:00.000Z', // 02:30 CEST
      '2026-10-25T00:30:00.000Z', // the first 02:30 (CEST); not again at 01:30Z (02:30 CET)
      '2026-10-26T01:30:00.000Z', // 02:30 CET (UTC+1)
      '2026-10-27T01:30:00.000Z',
    ]);
  });

  it('keeps an interval running through the hour that repeats, and skips none in the hour that is lost', () => {
    const halfHourly = CronSchedule.parse('*/30 * * * *', 'Europe/Berlin');
    expect(iso(halfHourly.nextSlots(6, at('2026-10-25T00:00:00Z')))).toEqual([
      '2026-10-25T00:30:00.000Z', // 02:30 CEST
      '2026-10-25T01:00:00.000Z', // 02:00 CET: the hour again
      '2026-10-25T01:30:00.000Z', // 02:30 CET
      '2026-10-25T02:00:00.000Z',
      '2026-10-25T02:30:00.000Z',
      '2026-10-25T03:00:00.000Z',
    ]);
    // In spring, every real half hour still fires: 01:30 CET is followed by 03:00 CEST, 30 minutes later.
    expect(iso(halfHourly.nextSlots(3, at('2026-03-29T00:15:00Z')))).toEqual([
      '2026-03-29T00:30:00.000Z',
      '2026-03-29T01:00:00.000Z',
      '2026-03-29T01:30:00.000Z',
    ]);
  });

  it('reads a 6-field cron with seconds first, and slots at whole seconds', () => {
    const everyTwo = CronSchedule.parse('*/2 * * * * *', 'UTC');
    expect(iso([everyTwo.nextAfter(at('2026-01-01T00:00:01.500Z'))])).toEqual(['2026-01-01T00:00:02.000Z']);
    expect(iso([everyTwo.nextAfter(at('2026-01-01T00:00:02.000Z'))])).toEqual(['2026-01-01T00:00:04.000Z']);
    expect(iso([everyTwo.latestAtOrBefore(at('2026-01-01T00:00:04.000Z'))])).toEqual(['2026-01-01T00:00:04.000Z']);
    expect(iso([everyTwo.latestAtOrBefore(at('2026-01-01T00:00:05.999Z'))])).toEqual(['2026-01-01T00:00:04.000Z']);
  });

  it('refuses what it cannot read, naming the reason', () => {
    expect(() => CronSchedule.parse('* * *', 'UTC')).toThrow(/exactly five, six, or seven/);
    expect(() => CronSchedule.parse('0 3 * * * * *', 'UTC')).toThrow(/is not valid/);
    expect(() => CronSchedule.parse('0 0 30 2 *', 'UTC')).toThrow(/never fires/);
    expect(() => CronSchedule.parse('0 25 * * *', 'UTC')).toThrow(/Invalid value for hour: 25/);
    expect(canonicalTimeZone('europe/berlin')).toBe('Europe/Berlin');
    expect(canonicalTimeZone('UTC')).toBe('UTC');
    expect(() => canonicalTimeZone('+01:00')).toThrow(/not an IANA time zone name/);
    expect(() => canonicalTimeZone('Europe/Atlantis')).toThrow(/not an IANA time zone name/);
  });
});

describe('which due slots fire', () => {
  const everyTwo = CronSchedule.parse('*/2 * * * * *', 'UTC');
  const plan = (nextFireAt: string, now: string, catchUp: 'none' | 'last', maxFires = 20) =>
    planFires(everyTwo, { nextFireAt: at(nextFireAt), now: at(now), catchUp, graceMs: 5_000, maxFires });

  it('fires a slot that is due now, and moves the next fire to the slot after now', () => {
    const p = plan('2026-01-01T00:00:10Z', '2026-01-01T00:00:10.004Z', 'none');
    expect(iso(p.fire)).toEqual(['2026-01-01T00:00:10.000Z']);
    expect(p.missed).toBeNull();
    expect(p.next?.toISOString()).toBe('2026-01-01T00:00:12.000Z');
  });

  it('fires every late slot within the grace, in order: a slow scheduler skips nothing', () => {
    const p = plan('2026-01-01T00:00:10Z', '2026-01-01T00:00:14.5Z', 'none');
    expect(iso(p.fire)).toEqual(['2026-01-01T00:00:10.000Z', '2026-01-01T00:00:12.000Z', '2026-01-01T00:00:14.000Z']);
    expect(p.next?.toISOString()).toBe('2026-01-01T00:00:16.000Z');
  });

  it('with catch_up none, fires none of the slots missed during a downtime, only those within the grace', () => {
    const p = plan('2026-01-01T00:00:10Z', '2026-01-01T00:01:00.5Z', 'none');
    // The grace reaches back to 00:00:55.5, so 56, 58 and 60 are late, 10 to 54 missed.
    expect(iso(p.fire)).toEqual(['2026-01-01T00:00:56.000Z', '2026-01-01T00:00:58.000Z', '2026-01-01T00:01:00.000Z']);
    expect(p.missed).toEqual({
      count: 23,
      countCapped: false,
      first: at('2026-01-01T00:00:10Z'),
      last: at('2026-01-01T00:00:54Z'),
    });
  });

  it('with catch_up last, fires the latest missed slot once when none is within the grace', () => {
    const daily = CronSchedule.parse('0 3 * * *', 'Europe/Berlin');
    const input = { graceMs: 60_000, maxFires: 20 };
    // Down from before the 3 June slot to the 5 June afternoon: the 3, 4 and 5 June slots missed.
    const last = planFires(daily, {
      ...input,
      nextFireAt: at('2026-06-03T01:00:00Z'),
      now: at('2026-06-05T14:00:00Z'),
      catchUp: 'last',
    });
    expect(iso(last.fire)).toEqual(['2026-06-05T01:00:00.000Z']);
    expect(last.missed).toBeNull();
    expect(last.next?.toISOString()).toBe('2026-06-06T01:00:00.000Z');
    const none = planFires(daily, {
      ...input,
      nextFireAt: at('2026-06-03T01:00:00Z'),
      now: at('2026-06-05T14:00:00Z'),
      catchUp: 'none',
    });
    expect(none.fire).toEqual([]);
    expect(none.missed).toMatchObject({ count: 3, last: at('2026-06-05T01:00:00Z') });
    expect(none.next?.toISOString()).toBe('2026-06-06T01:00:00.000Z');
  });

  it('fires at most maxFires slots at a time, leaving the rest due', () => {
    const p = plan('2026-01-01T00:00:50Z', '2026-01-01T00:01:00Z', 'none', 2);
    expect(iso(p.fire)).toEqual(['2026-01-01T00:00:56.000Z', '2026-01-01T00:00:58.000Z']);
    expect(p.next?.toISOString()).toBe('2026-01-01T00:01:00.000Z');
  });
});
