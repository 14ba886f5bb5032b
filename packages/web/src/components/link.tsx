import type { MouseEvent, ReactNode } from 'react';

import { navigate } from '../lib/router.ts';

/** An anchor that changes the page without reloading it (a modified click opens a new tab as usual). */
export function Link({
  to,
  children,
  className,
  current,
}: {
  to: string;
  children: ReactNode;
  className?: string;
  /** Marks the link to the page being shown, for screen readers. */
  current?: boolean;
}) {
  const onClick = (event: MouseEvent<HTMLAnchorElement>) => {
    if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    event.preventDefault();
    navigate(to);
  };
  return (
    <a
      href={to}
      onClick={onClick}
      aria-current={current ? 'page' : undefined}
      className={className ?? 'text-blue-700 hover:underline'}
    >
      {children}
    </a>
  );
}
