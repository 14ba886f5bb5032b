import { useQueryClient } from '@tanstack/react-query';
import { useEffect, useState } from 'react';

import { Link } from './components/link.tsx';
import { PageErrorBoundary } from './components/page-error-boundary.tsx';
import { api, errorMessage, signIn, storedToken, storeToken } from './lib/api.ts';
import { Live, setLive } from './lib/live.ts';
import { queryKeys } from './lib/query-keys.ts';
import { navigate, useLocation } from './lib/router.ts';
import { JobDetailPage } from './pages/jobs/job-detail-page.tsx';
import { JobsPage } from './pages/jobs/jobs-page.tsx';
import { NewJobForm } from './pages/jobs/new-job.tsx';
import { OverviewPage } from './pages/overview-page.tsx';
import { RunnerDetailPage } from './pages/runners/runner-detail-page.tsx';
import { RunnersPage } from './pages/runners/runners-page.tsx';
import { SignInPage } from './pages/sign-in.tsx';

function NewJobPage() {
  const queries = useQueryClient();
  return (
    <section>
      <h1 className="mb-4 text-xl font-semibold">New job</h1>
      <NewJobForm
        onSubmit={async (request) => {
          // Errors go back to the form, which puts the server's messages next to their fields.
          const job = await api().createJob(request);
          void queries.invalidateQueries({ queryKey: queryKeys.jobLists() });
          navigate(`/jobs/${job.id}`);
        }}
      />
    </section>
  );
}

function Page({ path }: { path: string }) {
  if (path === '/' || path === '/overview') return <OverviewPage />;
  if (path === '/jobs') return <JobsPage />;
  if (path === '/jobs/new') return <NewJobPage />;
  const job = /^\/jobs\/([A-Za-z0-9-]+)$/.exec(path);
  if (job) return <JobDetailPage id={job[1]!} />;
  if (path === '/runners') return <RunnersPage />;
  const runner = /^\/runners\/([A-Za-z0-9-]+)$/.exec(path);
  if (runner) return <RunnerDetailPage id={runner[1]!} />;
  return (
    <p>
      Nothing here. Try the <Link to="/jobs">jobs</Link>.
    </p>
  );
}

export function App() {
  const queries = useQueryClient();
  const { path, search } = useLocation();
  const [signedIn, setSignedIn] = useState(() => storedToken() !== null);
  const [linkError, setLinkError] = useState<string | null>(null);

  // /?token=… signs in, then the token leaves the address bar (and the history entry) at once.
  const urlToken = search.get('token');
  useEffect(() => {
    if (!urlToken) return;
    const rest = new URLSearchParams(search);
    rest.delete('token');
    navigate(path + (rest.size ? `?${rest}` : ''), { replace: true });
    signIn(urlToken).then(
      () => setSignedIn(true),
      (e: unknown) => setLinkError(errorMessage(e)),
    );
  }, [urlToken, path, search]);

  useEffect(() => {
    if (!signedIn) return;
    const live = new Live(queries);
    setLive(live);
    live.start();
    return () => {
      live.stop();
      setLive(null);
    };
  }, [signedIn, queries]);

  const signOut = () => {
    storeToken(null);
    queries.clear();
    setSignedIn(false);
    navigate('/');
  };

  if (!signedIn || urlToken)
    return <SignInPage key={linkError ?? ''} onSignedIn={() => setSignedIn(true)} initialError={linkError} />;
  const nav = (to: string, label: string) => {
    const current = path === to || (to !== '/' && path.startsWith(to));
    return (
      <Link
        to={to}
        current={current}
        className={`shrink-0 rounded px-3 py-1.5 focus-visible:outline-2 focus-visible:outline-white ${current ? 'bg-slate-700' : 'hover:bg-slate-800'}`}
      >
        {label}
      </Link>
    );
  };
  return (
    <div className="min-h-screen">
      <a
        href="#main"
        className="sr-only focus:not-sr-only focus:absolute focus:m-2 focus:rounded focus:bg-white focus:p-2"
      >
        Skip to content
      </a>
      <header className="flex items-center gap-1 overflow-x-auto bg-slate-900 px-3 py-2 text-white sm:gap-2 sm:px-6 sm:py-3">
        <span className="mr-2 font-semibold tracking-wide sm:mr-4">Borg</span>
        <nav aria-label="Main" className="flex gap-1 sm:gap-2">
          {nav('/', 'Overview')}
          {nav('/jobs', 'Jobs')}
          {nav('/runners', 'Runners')}
        </nav>
        <button
          type="button"
          onClick={signOut}
          className="ml-auto shrink-0 rounded px-3 py-1.5 hover:bg-slate-800 focus-visible:outline-2 focus-visible:outline-white"
        >
          Sign out
        </button>
      </header>
      <main id="main" className="mx-auto max-w-6xl p-3 sm:p-6">
        <PageErrorBoundary path={path}>
          <Page path={path} />
        </PageErrorBoundary>
      </main>
    </div>
  );
}
