set terminal svg size 800,450 dynamic font 'sans,11'
set output 'sweep_p99_us.svg'
set grid
set key outside right top
set title 'Working-set sweep under a 512 MiB cgroup limit'
set xlabel 'working set (MiB)'
set ylabel 'p99 (us)'
set logscale x 2
set arrow from 512.0,graph 0 to 512.0,graph 1 nohead dt 2
set label 'memory budget' at 512.0,graph 0.95 offset 1,0
plot 'sweep_p99_us.dat' index 0 using 1:2 with linespoints lw 2 title 'buffered', 'sweep_p99_us.dat' index 1 using 1:2 with linespoints lw 2 title 'direct'
