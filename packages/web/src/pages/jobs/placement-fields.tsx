import { Field } from '../../components/field.tsx';
import type { FieldErrors } from './job-request.ts';

/** The new-job form's placement fields, as typed. */
export interface PlacementValues {
  cpu: string;
  memoryMb: string;
  gpus: string;
  gpuMemoryMb: string;
  constraints: string;
}

export const NO_PLACEMENT: PlacementValues = { cpu: '', memoryMb: '', gpus: '', gpuMemoryMb: '', constraints: '' };

const NUMBERS = [
  { key: 'cpu', field: 'resources.cpu', label: 'CPU', hint: 'cores, e.g. 0.5 or 2', step: 'any' },
  { key: 'memoryMb', field: 'resources.memory_mb', label: 'Memory (MB)', hint: 'e.g. 8192', step: '1' },
  { key: 'gpus', field: 'resources.gpus', label: 'GPUs', hint: 'devices, each its own', step: '1' },
  {
    key: 'gpuMemoryMb',
    field: 'resources.gpu_memory_mb',
    label: 'GPU memory (MB)',
    hint: 'free on each GPU',
    step: '1',
  },
] as const;

/**
 * What each task asks of its runner (blank: nothing) and the constraint expressions a runner
 * must meet, one per line.
 */
export function PlacementFields({
  values,
  onChange,
  errors,
  inputClass,
}: {
  values: PlacementValues;
  onChange: (patch: Partial<PlacementValues>) => void;
  errors: FieldErrors;
  inputClass: string;
}) {
  return (
    <fieldset className="space-y-3 text-sm">
      <legend className="font-medium">Resources per task (optional)</legend>
      <div className="grid grid-cols-2 gap-4 sm:grid-cols-4">
        {NUMBERS.map((n) => (
          <Field key={n.key} label={n.label} error={errors[n.field]} hint={n.hint}>
            {(p) => (
              <input
                {...p}
                type="number"
                min={n.key === 'gpus' ? 0 : 1}
                step={n.step}
                value={values[n.key]}
                onChange={(e) => onChange({ [n.key]: e.target.value })}
                className={inputClass}
              />
            )}
          </Field>
        ))}
      </div>
      <Field
        label="Constraints (one per line)"
        error={errors.constraints}
        hint="e.g. gpu_model in (A100, H100), memory_gb >= 64, os != windows, zone exists, hostname !~ ^old-"
      >
        {(p) => (
          <textarea
            {...p}
            value={values.constraints}
            onChange={(e) => onChange({ constraints: e.target.value })}
            rows={2}
            className={`${inputClass} font-mono`}
          />
        )}
      </Field>
    </fieldset>
  );
}
