import './index.css';

import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';

import { App } from './app.tsx';
import { isUnauthorized, storeToken } from './lib/api.ts';

const queries = new QueryClient({
  defaultOptions: {
    // Live events keep the cache current while a page shows it (its topics are subscribed
    // then); events that came while it was elsewhere were missed, so a page fetches again on
    // mount (staleTime 0). Nothing refetches on a timer or on focus.
    queries: { staleTime: 0, refetchOnWindowFocus: false, retry: (n, e) => !isUnauthorized(e) && n < 2 },
  },
});
// A token revoked while the page is open: back to the sign-in page.
queries.getQueryCache().subscribe((event) => {
  if (event.type === 'updated' && isUnauthorized(event.query.state.error)) {
    storeToken(null);
    location.assign('/');
  }
});

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <QueryClientProvider client={queries}>
      <App />
    </QueryClientProvider>
  </StrictMode>,
);
