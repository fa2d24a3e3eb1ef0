set terminal svg size 800,450 dynamic font 'sans,11'
set output 'peers_rps.svg'
set grid
set key outside right top
set title 'Point reads at equal memory'
set xlabel 'threads'
set ylabel 'reads/s'
set logscale x 2
plot 'peers_rps.dat' index 0 using 1:2 with linespoints lw 2 title 'ours', 'peers_rps.dat' index 1 using 1:2 with linespoints lw 2 title 'rocksdb', 'peers_rps.dat' index 2 using 1:2 with linespoints lw 2 title 'lmdb'
