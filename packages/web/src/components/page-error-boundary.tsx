import { Component, type ErrorInfo, type ReactNode } from 'react';

import { Link } from './link.tsx';

interface Props {
  children: ReactNode;
  /** The page's path: showing another page clears the error. */
  path: string;
}

interface State {
  error: Error | null;
}

/**
 * Keeps a page that throws while rendering from taking the app down with it: the header and
 * navigation stay usable, and the page is replaced by what went wrong and the ways out of it.
 */
export class PageErrorBoundary extends Component<Props, State> {
  override state: State = { error: null };

  static getDerivedStateFromError(error: unknown): State {
    return { error: error instanceof Error ? error : new Error(String(error)) };
  }

  override componentDidCatch(error: Error, info: ErrorInfo): void {
    console.error(`The page ${this.props.path} failed to render:`, error, info.componentStack);
  }

  override componentDidUpdate(previous: Props): void {
    if (previous.path !== this.props.path && this.state.error) this.setState({ error: null });
  }

  override render() {
    const { error } = this.state;
    if (!error) return this.props.children;
    return (
      <div role="alert" className="rounded border border-red-200 bg-red-50 p-4 text-sm text-red-800">
        <h1 className="mb-2 text-lg font-semibold">This page could not be shown</h1>
        <p className="mb-3 font-mono break-words whitespace-pre-wrap">{error.message || error.name}</p>
        <div className="flex flex-wrap gap-2">
          <button
            type="button"
            onClick={() => this.setState({ error: null })}
            className="rounded border border-red-300 bg-white px-3 py-1"
          >
            Try again
          </button>
          <button
            type="button"
            onClick={() => history.back()}
            className="rounded border border-red-300 bg-white px-3 py-1"
          >
            Go back
          </button>
          <Link to="/" className="rounded border border-red-300 bg-white px-3 py-1 text-blue-700 hover:underline">
            Overview
          </Link>
        </div>
      </div>
    );
  }
}
