import type { Identity } from '@borg/protocol';
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { useEffect, useState } from 'react';

import { Link } from './components/link.tsx';
import { PageErrorBoundary } from './components/page-error-boundary.tsx';
import { ErrorState, Loading } from './components/page-states.tsx';
import { api, signIn, signInErrorMessage, storedToken, storeToken } from './lib/api.ts';
import { IdentityContext } from './lib/identity.ts';
import { Live, setLive } from './lib/live.ts';
import { mayCall } from './lib/permissions.ts';
import { queryKeys } from './lib/query-keys.ts';
import { navigate, useLocation } from './lib/router.ts';
import { AuditPage } from './pages/audit/audit-page.tsx';
import { JobDetailPage } from './pages/jobs/job-detail-page.tsx';
import { JobsPage } from './pages/jobs/jobs-page.tsx';
import { NewJobPage } from './pages/jobs/new-job-page.tsx';
import { OverviewPage } from './pages/overview-page.tsx';
import { AddRunnerPage } from './pages/runners/add-runner-page.tsx';
import { RunnerDetailPage } from './pages/runners/runner-detail-page.tsx';
import { RunnersPage } from './pages/runners/runners-page.tsx';
import { ScheduleDetailPage } from './pages/schedules/schedule-detail-page.tsx';
import { SchedulesPage } from './pages/schedules/schedules-page.tsx';
import { SignInPage } from './pages/sign-in.tsx';
import { WebhookDetailPage } from './pages/webhooks/webhook-detail-page.tsx';
import { WebhooksPage } from './pages/webhooks/webhooks-page.tsx';

function Page({ path }: { path: string }) {
  if (path === '/' || path === '/overview') return <OverviewPage />;
  if (path === '/jobs') return <JobsPage />;
  if (path === '/jobs/new') return <NewJobPage />;
  const job = /^\/jobs\/([A-Za-z0-9-]+)$/.exec(path);
  if (job) return <JobDetailPage id={job[1]!} />;
  if (path === '/runners') return <RunnersPage />;
  if (path === '/runners/new') return <AddRunnerPage />;
  const runner = /^\/runners\/([A-Za-z0-9-]+)$/.exec(path);
  if (runner) return <RunnerDetailPage id={runner[1]!} />;
  if (path === '/audit') return <AuditPage />;
  if (path === '/schedules') return <SchedulesPage />;
  const schedule = /^\/schedules\/([A-Za-z0-9-]+)$/.exec(path);
  if (schedule) return <ScheduleDetailPage id={schedule[1]!} />;
  if (path === '/webhooks') return <WebhooksPage />;
  const webhook = /^\/webhooks\/([A-Za-z0-9-]+)$/.exec(path);
  if (webhook) return <WebhookDetailPage id={webhook[1]!} />;
  return (
    <p>
      Nothing here. Try the <Link to="/jobs">jobs</Link>.
    </p>
  );
}

/** The signed-in token's name and role, in the header. */
function IdentityBadge({ identity }: { identity: Identity }) {
  return (
    <span data-testid="identity" className="ml-auto flex min-w-0 shrink items-center gap-2 text-sm">
      <span className="hidden max-w-48 truncate text-slate-300 sm:inline" title={`token ${identity.token_id}`}>
        {identity.name}
      </span>
      <span data-testid="role" className="rounded bg-slate-700 px-2 py-0.5 text-xs font-medium">
        {identity.role ?? identity.kind}
      </span>
    </span>
  );
}

export function App() {
  const queries = useQueryClient();
  const { path, search } = useLocation();
  // A page opened with /?token=… starts signed out: that token replaces any session of this tab.
  const [signedIn, setSignedIn] = useState(
    () => storedToken() !== null && !new URLSearchParams(location.search).has('token'),
  );
  const [linkError, setLinkError] = useState<string | null>(null);

  // /?token=… signs in, then the token leaves the address bar (and the history entry) at once.
  // The old session goes first, so nothing fetched with the old token (whoami included) is
  // shown as the new one's while the new one is checked.
  const urlToken = search.get('token');
  useEffect(() => {
    if (!urlToken) return;
    const rest = new URLSearchParams(search);
    rest.delete('token');
    navigate(path + (rest.size ? `?${rest}` : ''), { replace: true });
    storeToken(null);
    queries.clear();
    signIn(urlToken).then(
      (identity) => {
        queries.setQueryData(queryKeys.whoami(), identity);
        setSignedIn(true);
      },
      (e: unknown) => setLinkError(signInErrorMessage(e)),
    );
  }, [urlToken, path, search, queries]);

  // Who the token is: the answer of the sign-in check, or fetched once when a reload finds the
  // token in sessionStorage; static (no refetch on a reconnect) until sign-out clears the cache.
  const identity = useQuery({
    queryKey: queryKeys.whoami(),
    queryFn: () => api().whoami(),
    enabled: signedIn && !urlToken,
    staleTime: 'static',
  });

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

  if (!signedIn || urlToken) {
    return (
      <SignInPage
        key={linkError ?? ''}
        onSignedIn={(signedInAs) => {
          queries.setQueryData(queryKeys.whoami(), signedInAs);
          setSignedIn(true);
        }}
        initialError={linkError}
      />
    );
  }
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
  const me = identity.data;
  return (
    <div className="min-h-screen">
      <a
        href="#main"
        className="sr-only focus:not-sr-only focus:absolute focus:m-2 focus:rounded focus:bg-white focus:p-2"
      >
        Skip to content
      </a>
      {/* On a phone the links take a row of their own below the name and Sign out, wrapping as needed. */}
      <header className="flex flex-wrap items-center gap-1 bg-slate-900 px-3 py-2 text-white sm:flex-nowrap sm:gap-2 sm:overflow-x-auto sm:px-6 sm:py-3">
        <span className="mr-2 font-semibold tracking-wide sm:mr-4">Borg</span>
        <nav
          aria-label="Main"
          className="order-last flex w-full flex-wrap gap-1 sm:order-none sm:w-auto sm:flex-nowrap sm:gap-2"
        >
          {nav('/', 'Overview')}
          {nav('/jobs', 'Jobs')}
          {nav('/runners', 'Runners')}
          {nav('/schedules', 'Schedules')}
          {me && mayCall(me, 'listAudit').allowed && nav('/audit', 'Audit')}
          {me && mayCall(me, 'listWebhooks').allowed && nav('/webhooks', 'Webhooks')}
        </nav>
        {me ? <IdentityBadge identity={me} /> : <span className="ml-auto" />}
        <button
          type="button"
          onClick={signOut}
          className="shrink-0 rounded px-3 py-1.5 hover:bg-slate-800 focus-visible:outline-2 focus-visible:outline-white"
        >
          Sign out
        </button>
      </header>
      <main id="main" className="mx-auto max-w-screen-2xl p-3 sm:p-6">
        {me ? (
          <IdentityContext value={me}>
            <PageErrorBoundary path={path}>
              <Page path={path} />
            </PageErrorBoundary>
          </IdentityContext>
        ) : identity.error ? (
          <ErrorState error={identity.error} retry={() => void identity.refetch()} />
        ) : (
          <Loading what="Checking the token" />
        )}
      </main>
    </div>
  );
}
