// Every field of a Kubernetes pod spec that names an image the kubelet will pull, in ONE
// table. The decoder reads images only through this table, and every image it reads is
// verified and pinned at its own pointer, so a field listed here cannot be read without
// being verified. Security: a field missing from this table is an image that runs
// unverified; test/unit/admission/pod-image-fields.test.ts pins the table to the pod spec
// fields Kubernetes defines, so a new one must be added here to pass.

export interface PodImageField {
  // The pod spec list holding the items (`containers`, `volumes`, ...).
  readonly list: string;
  // Path from one item of the list to its image string.
  readonly imagePath: readonly [string, ...string[]];
  // Whether every item carries an image (containers) or only items with the first segment
  // of imagePath do (only `image` volumes among all volume types).
  readonly everyItem: boolean;
  // How a denial names an item of this list: `init container "setup"`.
  readonly label: string;
}

export const POD_IMAGE_FIELDS = [
  { list: 'initContainers', imagePath: ['image'], everyItem: true, label: 'init container' },
  { list: 'containers', imagePath: ['image'], everyItem: true, label: 'container' },
  { list: 'ephemeralContainers', imagePath: ['image'], everyItem: true, label: 'ephemeral container' },
  // ImageVolumeSource (Kubernetes 1.31+): an OCI image or artifact mounted as a volume; its
  // content is as much "what runs" as a container image (a trusted container can exec it).
  { list: 'volumes', imagePath: ['image', 'reference'], everyItem: false, label: 'image volume' },
] as const satisfies readonly PodImageField[];

export type PodImageList = (typeof POD_IMAGE_FIELDS)[number]['list'];

export const ALL_POD_IMAGE_LISTS: readonly PodImageList[] = POD_IMAGE_FIELDS.map((field) => field.list);

const BY_LIST: ReadonlyMap<string, PodImageField> = new Map(POD_IMAGE_FIELDS.map((field) => [field.list, field]));

export function podImageField(list: PodImageList): PodImageField {
  const field = BY_LIST.get(list);
  if (field === undefined) throw new Error(`no pod image field ${list}`);
  return field;
}
