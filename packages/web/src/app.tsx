import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useEffect, useState } from 'react';

import { Link } from './components/link.tsx';
import { api, errorMessage, signIn, storedToken, storeToken } from './lib/api.ts';
import { Live, setLive } from './lib/live.ts';
import { navigate, useLocation } from './lib/router.ts';
import { JobDetailPage } from './pages/jobs/job-detail-page.tsx';
import { JobsPage } from './pages/jobs/jobs-page.tsx';
import { NewJobForm } from './pages/jobs/new-job.tsx';
import { OverviewPage } from './pages/overview-page.tsx';
import { RunnersPage } from './pages/runners/runners-page.tsx';
import { SignInPage } from './pages/sign-in.tsx';

function NewJobPage() {
  const queries = useQueryClient();
  const create = useMutation({ mutationFn: api().createJob.bind(api()) });
  return (
    <section>
      <h1 className="mb-4 text-xl font-semibold">New job</h1>
      <NewJobForm
        onSubmit={async (request) => {
          try {
            const job = await create.mutateAsync(request);
            void queries.invalidateQueries({ queryKey: ['jobs'] });
            navigate(`/jobs/${job.id}`);
          } catch (e) {
            throw new Error(errorMessage(e), { cause: e });
          }
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
  const nav = (to: string, label: string) => (
    <Link
      to={to}
      className={`rounded px-3 py-1.5 ${path === to || (to !== '/' && path.startsWith(to)) ? 'bg-slate-700' : 'hover:bg-slate-800'}`}
    >
      {label}
    </Link>
  );
  return (
    <div className="min-h-screen">
      <header className="flex items-center gap-2 bg-slate-900 px-6 py-3 text-white">
        <span className="mr-4 font-semibold tracking-wide">Borg</span>
        {nav('/', 'Overview')}
        {nav('/jobs', 'Jobs')}
        {nav('/runners', 'Runners')}
        <button type="button" onClick={signOut} className="ml-auto rounded px-3 py-1.5 hover:bg-slate-800">
          Sign out
        </button>
      </header>
      <main className="mx-auto max-w-6xl p-6">
        <Page path={path} />
      </main>
    </div>
  );
}
