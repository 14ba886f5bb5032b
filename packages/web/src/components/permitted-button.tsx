import type { ButtonHTMLAttributes } from 'react';

import { useIdentity } from '../lib/identity.ts';
import { offerOf, type Permission } from '../lib/permissions.ts';

/**
 * A button for an action the token may or may not take: enabled when it may; otherwise
 * disabled with the reason as its tooltip, or absent for a read-only token (see offerOf).
 */
export function PermittedButton({
  permission,
  disabled,
  title,
  ...props
}: { permission: Permission } & ButtonHTMLAttributes<HTMLButtonElement>) {
  const offer = offerOf(useIdentity(), permission);
  if (offer === 'hidden') return null;
  return (
    <button
      type="button"
      {...props}
      disabled={disabled || offer === 'disabled'}
      title={permission.allowed ? title : permission.reason}
    />
  );
}
