import sharp from 'sharp'
for (const f of ['gps/DSCN0010.jpg', 'orientation/landscape_1.jpg', 'orientation/portrait_1.jpg', 'pngsuite/png/basn6a16.png', 'small/webp.webp', 'small/gif.gif']) {
  try { const m = await sharp('/work/shared/corpus/' + f).metadata(); console.log(f, m.width, m.height, m.format) } catch (e) { console.log(f, String(e)) }
}
