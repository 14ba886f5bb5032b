// @vitest-environment jsdom
import '@testing-library/jest-dom/vitest';

import { cleanup, fireEvent, render, screen } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

import { Link } from '../src/components/link.tsx';
import { PageErrorBoundary } from '../src/components/page-error-boundary.tsx';
import { navigate, useLocation } from '../src/lib/router.ts';

let broken = true;

/** A page that throws while `broken` is set, as a page does on data it did not expect. */
function Page({ path }: { path: string }) {
  if (path === '/jobs/j' && broken) throw new Error('job.tasks is undefined');
  return <p>Page {path}</p>;
}

/** The app's shape: navigation outside the boundary, the page inside it. */
function Shell() {
  const { path } = useLocation();
  return (
    <>
      <nav>
        <Link to="/runners">Runners</Link>
      </nav>
      <main>
        <PageErrorBoundary path={path}>
          <Page path={path} />
        </PageErrorBoundary>
      </main>
    </>
  );
}

beforeEach(() => {
  broken = true;
  navigate('/jobs/j');
  // React reports the caught error on the console; the boundary logs it once more.
  vi.spyOn(console, 'error').mockImplementation(() => undefined);
});
afterEach(() => {
  cleanup();
  vi.restoreAllMocks();
});

describe('PageErrorBoundary', () => {
  it('shows what went wrong in place of a page that throws, with ways out', () => {
    render(<Shell />);
    const alert = screen.getByRole('alert');
    expect(alert).toHaveTextContent('This page could not be shown');
    expect(alert).toHaveTextContent('job.tasks is undefined');
    expect(screen.getByRole('button', { name: 'Try again' })).toBeInTheDocument();
    expect(screen.getByRole('button', { name: 'Go back' })).toBeInTheDocument();
    expect(screen.getByRole('link', { name: 'Overview' })).toHaveAttribute('href', '/');
    expect(console.error).toHaveBeenCalledWith(
      'The page /jobs/j failed to render:',
      expect.any(Error),
      expect.any(String),
    );
  });

  it('leaves the rest of the app working: navigating away shows the next page', () => {
    render(<Shell />);
    expect(screen.getByRole('alert')).toBeInTheDocument();
    fireEvent.click(screen.getByRole('link', { name: 'Runners' }));
    expect(screen.queryByRole('alert')).not.toBeInTheDocument();
    expect(screen.getByText('Page /runners')).toBeInTheDocument();
  });

  it('renders the page again on "Try again"', () => {
    render(<Shell />);
    broken = false;
    fireEvent.click(screen.getByRole('button', { name: 'Try again' }));
    expect(screen.getByText('Page /jobs/j')).toBeInTheDocument();
  });

  it('goes back in history on "Go back"', () => {
    const back = vi.spyOn(history, 'back').mockImplementation(() => undefined);
    render(<Shell />);
    fireEvent.click(screen.getByRole('button', { name: 'Go back' }));
    expect(back).toHaveBeenCalledOnce();
  });
});
