import type { AssignedGpu } from '@borg/protocol';

/** The GPUs an attempt holds or held, by index ("GPU 0, 3"); each UUID in its tooltip. */
export function AssignedGpus({ gpus }: { gpus: readonly AssignedGpu[] }) {
  if (gpus.length === 0) return <span className="text-slate-400">—</span>;
  return (
    <span data-testid="assigned-gpus" className="whitespace-nowrap">
      {gpus.length === 1 ? 'GPU ' : 'GPUs '}
      {gpus.map((g, i) => (
        <span key={g.index}>
          {i > 0 && ', '}
          <abbr title={g.uuid || undefined} className="no-underline">
            {g.index}
          </abbr>
        </span>
      ))}
    </span>
  );
}
