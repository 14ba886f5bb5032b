// @vitest-environment jsdom
import '@testing-library/jest-dom/vitest';

import { render, screen } from '@testing-library/react';
import { describe, expect, it } from 'vitest';

import { RunnerStatusBadge } from '../src/pages/runners/runner-status.tsx';
import { runnerOf } from './fixtures.ts';

describe('a runner state badge', () => {
  it('says a runner that went offline by stopping was stopped, and one waiting for approval so', () => {
    const cases = [
      [runnerOf({ status: 'offline', offline_reason: 'stopped' }), 'offline (stopped)'],
      [runnerOf({ status: 'offline', offline_reason: null }), 'offline'],
      [runnerOf({ status: 'online' }), 'online'],
      [runnerOf({ status: 'online', approved: false }), 'awaiting approval'],
    ] as const;
    for (const [runner, words] of cases) {
      const { unmount } = render(<RunnerStatusBadge runner={runner} />);
      expect(screen.getByTestId('status')).toHaveTextContent(words);
      unmount();
    }
  });
});
