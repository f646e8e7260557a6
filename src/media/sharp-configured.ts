/**
 * The only importer of sharp, loaded on the first image (./sharp-pipeline.ts loadSharp), with the
 * global libvips settings applied once, as the module is evaluated. The operation cache only
 * holds memory for pipelines that never repeat here. One libvips thread per image, because
 * parallelism comes from the job pool and from encoding each job's variants side by side; more
 * threads per image mostly grow glibc malloc arenas (the RSS numbers in STACK-NOTES).
 */
// First, on purpose: in the single binary this loads the embedded libvips sharp's addon links against.
import '../native-libvips.ts'
import sharp from 'sharp'

/**
 * Loaders no upload may reach. Bytes are sniffed before sharp sees them, so this is the second
 * lock: SVG (scripts, external entities, billion laughs), PDF, TIFF and friends stay shut even if
 * a sniffing bug let one through. Blocking a class blocks its file/buffer/source subclasses.
 */
const BLOCKED_LOADERS = [
  'VipsForeignLoadSvg',
  'VipsForeignLoadPdf',
  'VipsForeignLoadTiff',
  'VipsForeignLoadJxl',
  'VipsForeignLoadJp2k',
  'VipsForeignLoadMagick',
  'VipsForeignLoadOpenslide',
  'VipsForeignLoadFits',
  'VipsForeignLoadPpm',
  'VipsForeignLoadRad',
  'VipsForeignLoadMatrix',
  'VipsForeignLoadCsv',
  'VipsForeignLoadAnalyze',
]

sharp.cache(false)
sharp.concurrency(1)
sharp.block({ operation: BLOCKED_LOADERS })

export default sharp
